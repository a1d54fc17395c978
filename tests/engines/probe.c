/* The engine probe: what a container's seccomp filter answers for each call, with no
 * call ever running.
 *
 * It reads lines "ABI NR A0 A1 A2 A3 A4" (ABI: x86_64, x32 or x86; numbers in any
 * base strtoull takes) from the file named by argv[1] and prints, per line, the line
 * and what the filter answered:
 *   errno N     the outer filter answered SECCOMP_RET_ERRNO with N
 *   passes      no outer filter denied it (ALLOW, LOG or TRACE: it reached ours)
 *   trap N      SECCOMP_RET_TRAP (SIGSYS with si_errno N)
 *   signal N    the child died of signal N (SECCOMP_RET_KILL_*)
 *   ret N       the call returned N: it ran (a probe failure; never expected)
 *
 * How: before probing, this process stacks its own filter (seccomp(2), SECCOMP_RET_
 * USER_NOTIF with SECCOMP_FILTER_FLAG_NEW_LISTENER) for calls whose sixth argument
 * is COOKIE, and a supervisor child answers every notification with -PASSES without
 * running it.  The kernel takes the action of highest precedence over all filters
 * (KILL > TRAP > ERRNO > USER_NOTIF > TRACE > LOG > ALLOW), so an outer denial comes
 * back as itself and anything else reaches the supervisor; each call runs in its own
 * child, so a kill ends only that child.  Blind spots: an outer TRACE or LOG answer
 * reads "passes", as does an outer USER_NOTIF (ours, the newer filter, wins the tie),
 * and a rule on the sixth argument is not probed.  Exit 3: the filter cannot be
 * stacked (the line "nostack ERRNO" says why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define COOKIE 0x5ec0c0deUL
#define PASSES 3333

static long call64(long nr, const unsigned long *a)
{
    long r;
    register unsigned long r10 __asm__("r10") = a[3];
    register unsigned long r8 __asm__("r8") = a[4];
    register unsigned long r9 __asm__("r9") = COOKIE;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

static long call32(long nr, const unsigned long *a)
{
    int r;
    register unsigned long r12 __asm__("r12") = COOKIE;
    __asm__ volatile("push %%rbp\n\tmov %%r12d, %%ebp\n\tint $0x80\n\tpop %%rbp"
                     : "=a"(r)
                     : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4]), "r"(r12)
                     : "r8", "r9", "r10", "r11", "memory");
    return r;
}

static void say(const char *line, const char *what, long n)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s %s %ld\n", line, what, n);
    if (write(1, buf, (size_t)len) != len)
        _exit(2);
}

static const char *current;

static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
    (void)sig, (void)ctx;
    say(current, "trap", info->si_errno);
    _exit(0);
}

static int stack_filter(void)
{
    /* USER_NOTIF where args[5] (low word, then high word) is COOKIE, else ALLOW. */
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[5])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COOKIE, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[5]) + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof insns / sizeof insns[0], insns};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                        &prog);
}

static void supervise(int fd)
{
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            if (errno == EINTR)
                continue;
            _exit(0);
        }
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.error = -PASSES;
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

static void probe(const char *line, char *abi, long nr, const unsigned long *a)
{
    current = line;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    long r = strcmp(abi, "x86") == 0 ? call32(nr, a)
             : strcmp(abi, "x32") == 0 ? call64(nr | 0x40000000L, a)
                                      : call64(nr, a);
    if (r == -PASSES)
        say(line, "passes", 0);
    else if (r < 0 && r > -4096)
        say(line, "errno", -r);
    else
        say(line, "ret", r);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: probe CALLS-FILE\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    int fd = stack_filter();
    if (fd < 0) {
        say("nostack", "errno", errno);
        return 3;
    }
    pid_t supervisor = fork();
    if (supervisor == 0)
        supervise(fd);
    close(fd);
    char line[256];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        char copy[256], *save, *abi;
        unsigned long v[7] = {0};
        int n = 0;
        memcpy(copy, line, sizeof copy);
        abi = strtok_r(copy, " ", &save);
        for (char *t; n < 7 && (t = strtok_r(NULL, " ", &save)); n++)
            v[n] = strtoull(t, NULL, 0);
        if (!abi || n < 1) {
            say(line, "unparsed", 0);
            continue;
        }
        fflush(stdout);
        pid_t child = fork();
        if (child == 0)
            probe(line, abi, (long)v[0], v + 1);
        int status;
        if (child < 0 || waitpid(child, &status, 0) != child)
            say(line, "lost", errno);
        else if (WIFSIGNALED(status))
            say(line, "signal", WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0)
            say(line, "exit", WEXITSTATUS(status));
    }
    kill(supervisor, SIGKILL);
    waitpid(supervisor, NULL, 0);
    return 0;
}
