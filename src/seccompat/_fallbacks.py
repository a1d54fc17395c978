"""Userspace that falls back to an older call when a new one answers ENOSYS.

Read by the shim (which calls to turn from EPERM into ENOSYS) and by lint (which
EPERM defaults break someone).  Each entry names who takes the fallback, from
their sources (glibc sysdeps/unix/sysv/linux, Go's syscall and os, Rust std, ...).
"""

from __future__ import annotations

__all__ = ["FALLBACKS"]

#: Calls with well-known ENOSYS fallbacks, and who takes them.
FALLBACKS: dict[str, str] = {
    "clone3": "glibc >= 2.34 pthread_create, posix_spawn and fork fall back to clone",
    "faccessat2": "glibc >= 2.33 and musl >= 1.2.2 faccessat fall back to faccessat and fstatat",
    "openat2": "libpathrs, filepath-securejoin, cap-std and systemd fall back to O_PATH walks",
    "close_range": "glibc closefrom, CPython, systemd and crun fall back to closing each fd",
    "statx": "glibc, Rust std, rustix and Go fall back to fstatat",
    "fchmodat2": "glibc >= 2.39 fchmodat(AT_SYMLINK_NOFOLLOW) falls back to O_PATH + /proc",
    "epoll_pwait2": "libuv, Go and glib fall back to epoll_pwait with a millisecond timeout",
    "pidfd_open": "Go os, systemd and Rust std fall back to plain PIDs",
    "pidfd_send_signal": "Go os and systemd fall back to kill(2)",
    "pidfd_getfd": "callers fall back to SCM_RIGHTS passing",
    "copy_file_range": "coreutils, Go, Rust std and CPython shutil fall back to read/write",
    "getrandom": "CPython os.urandom, OpenSSL and Rust getrandom fall back to /dev/urandom",
    "rseq": "glibc >= 2.35 runs without restartable sequences",
    "futex_waitv": "Wine and Proton fall back to eventfd-based synchronisation",
    "memfd_create": "systemd, Wayland clients and GLib fall back to shm_open or O_TMPFILE",
    "preadv2": "glibc emulates preadv2 with flags 0 through preadv",
    "pwritev2": "glibc emulates pwritev2 with flags 0 through pwritev",
    "renameat2": "coreutils mv and GLib fall back to renameat or link+unlink",
    "membarrier": "liburcu and .NET fall back to other barriers",
    "io_uring_setup": "tokio, libuv and glommio fall back to epoll and thread pools",
    "sched_getattr": "util-linux and language runtimes fall back to sched_getparam",
    "execveat": "fexecve in glibc and musl falls back to execve on /proc/self/fd",
    "mlock2": "glibc mlock2(MLOCK_ONFAULT) callers fall back to mlock",
    "pkey_alloc": "glibc's pkey_alloc callers run without protection keys",
    "landlock_create_ruleset": "sandboxing libraries run without Landlock on ENOSYS",
    "cachestat": "callers fall back to mincore",
    "futex_wake": "futex2 callers fall back to futex(2)",
    "futex_wait": "futex2 callers fall back to futex(2)",
    "futex_requeue": "futex2 callers fall back to futex(2)",
    "listmount": "util-linux and systemd fall back to /proc/self/mountinfo",
    "statmount": "util-linux and systemd fall back to /proc/self/mountinfo",
}
