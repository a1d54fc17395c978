/* Optional accelerator for seccompat.raw.syscall: syscall(2) without ctypes.
 *
 * The pure-ctypes path in raw.py is the reference and is always available; this
 * module only makes the same call cheaper (ctypes spends ~200 ns converting
 * arguments).  Same contract: every argument is a Python int in
 * [-2**63, 2**64), passed as a full 64-bit long, or bytes (a pointer to its
 * NUL-terminated data) or a bytearray (a pointer to its buffer); the result is
 * (return, errno), errno 0 on success, never an exception for a kernel error.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static int
as_long(PyObject *obj, long *out)
{
    int overflow = 0;
    long value;

    if (PyLong_CheckExact(obj)) {  /* the common case first */
        value = PyLong_AsLongAndOverflow(obj, &overflow);
        if (overflow == 0) {
            *out = value;
            return 0;
        }
    }
    /* bytes: a pointer to its NUL-terminated data (read-only for the kernel);
     * bytearray: a pointer to its buffer (the kernel may write into it). */
    if (PyBytes_CheckExact(obj)) {
        *out = (long)PyBytes_AS_STRING(obj);
        return 0;
    }
    if (PyByteArray_CheckExact(obj)) {
        *out = (long)PyByteArray_AS_STRING(obj);
        return 0;
    }
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "syscall arguments must be int, bytes or bytearray, "
                     "not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    value = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow == 0) {
        if (value == -1 && PyErr_Occurred())
            return -1;
        *out = value;
        return 0;
    }
    if (overflow > 0) {
        /* [2**63, 2**64): the same bits as the negative long. */
        unsigned long u = PyLong_AsUnsignedLong(obj);
        if (!(u == (unsigned long)-1 && PyErr_Occurred())) {
            *out = (long)u;
            return 0;
        }
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_ValueError, "syscall argument out of range [-2**63, 2**64)");
    return -1;
}

static PyObject *
raw_syscall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long a[7] = {0, 0, 0, 0, 0, 0, 0};
    long result;
    int err;
    PyObject *r, *e, *tuple;

    (void)module;
    if (nargs < 1 || nargs > 7) {
        PyErr_SetString(PyExc_TypeError, "syscall() takes a number and at most 6 arguments");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (as_long(args[i], &a[i]) < 0)
            return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    result = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    err = result == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    tuple = PyTuple_New(2);
    if (tuple == NULL)
        return NULL;
    r = PyLong_FromLong(result);
    e = PyLong_FromLong(err);
    if (r == NULL || e == NULL) {
        Py_XDECREF(r);
        Py_XDECREF(e);
        Py_DECREF(tuple);
        return NULL;
    }
    PyTuple_SET_ITEM(tuple, 0, r); /* steals the references */
    PyTuple_SET_ITEM(tuple, 1, e);
    return tuple;
}

/* --- fork_script: raw syscalls in a forked child, no Python there ----------
 *
 * fork_script(steps, out_fd, alarm_seconds) -> pid.  Each step is a tuple
 * (flags, nr, a0 .. a5).  The child runs the steps in order and reports on out_fd,
 * one line each: "b I" before and "e I RESULT ERRNO TRAPPED" after a step with
 * STEP_REPORT; "s I ERRNO" (then exit status 2) when a STEP_ABORT step fails.
 * STEP_CLOSE closes a successful step's result (a descriptor).  A catchable SIGSYS
 * (a filter's TRAP) sets TRAPPED; SIGALRM after alarm_seconds ends a child that
 * something holds.  This is seccompat.forking.fork_script's fast path: after a
 * fork in a threaded process the child may only do async-signal-safe work, so it
 * never touches the interpreter (its locks may be held by threads that are gone).
 * Everything is converted before the fork; the parent returns the pid at once. */
enum { STEP_REPORT = 1, STEP_CLOSE = 2, STEP_ABORT = 4 };

struct step {
    long flags, nr, a[6];
};

static volatile sig_atomic_t child_trapped;

static void
on_sigsys(int sig)
{
    (void)sig;
    child_trapped = 1;
}

/* Decimal text of v into buf (no stdio in the child); returns the end. */
static char *
put_long(char *buf, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *buf++ = '-';
    while (n)
        *buf++ = tmp[--n];
    return buf;
}

static void
put_line(int fd, char kind, int count, const long *values)
{
    char line[128], *p = line;

    *p++ = kind;
    for (int i = 0; i < count; i++) {
        *p++ = ' ';
        p = put_long(p, values[i]);
    }
    *p++ = '\n';
    while (write(fd, line, (size_t)(p - line)) < 0 && errno == EINTR)
        ;
}

static void __attribute__((noreturn))
run_steps(const struct step *steps, Py_ssize_t n, int out, unsigned alarm_seconds)
{
    struct sigaction sa;
    sigset_t unblock;
    static const int crash[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGALRM};

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
        sigaction(crash[i], &sa, NULL);  /* no inherited handler runs here */
    sa.sa_handler = on_sigsys;
    sigaction(SIGSYS, &sa, NULL);
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGSYS);
    sigaddset(&unblock, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    if (alarm_seconds)
        alarm(alarm_seconds);
    for (Py_ssize_t i = 0; i < n; i++) {
        const struct step *st = &steps[i];
        long r, values[4];
        int err;

        if (st->flags & STEP_REPORT) {
            values[0] = (long)i;
            put_line(out, 'b', 1, values);
        }
        child_trapped = 0;
        errno = 0;
        r = syscall(st->nr, st->a[0], st->a[1], st->a[2], st->a[3], st->a[4], st->a[5]);
        err = r == -1 ? errno : 0;
        if (err && (st->flags & STEP_ABORT)) {
            values[0] = (long)i;
            values[1] = err;
            put_line(out, 's', 2, values);
            _exit(2);
        }
        /* After a TRAP the return register holds the syscall number, not a result. */
        if (!err && !child_trapped && r >= 0 && (st->flags & STEP_CLOSE))
            close((int)r);
        if (st->flags & STEP_REPORT) {
            values[0] = (long)i;
            values[1] = r;
            values[2] = err;
            values[3] = child_trapped;
            put_line(out, 'e', 4, values);
        }
    }
    _exit(0);
}

static PyObject *
fork_script(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *steps_obj;
    struct step *steps;
    Py_ssize_t n;
    long out, alarm_seconds;
    pid_t pid;

    (void)module;
    if (nargs != 3 || !PyTuple_Check(args[0]) || as_long(args[1], &out) < 0
        || as_long(args[2], &alarm_seconds) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError,
                            "fork_script(steps: tuple, out_fd: int, alarm_seconds: int)");
        return NULL;
    }
    if (out < 0 || out > INT_MAX || alarm_seconds < 0 || alarm_seconds > 86400) {
        PyErr_SetString(PyExc_ValueError, "fork_script: out_fd or alarm_seconds out of range");
        return NULL;
    }
    steps_obj = args[0];
    n = PyTuple_GET_SIZE(steps_obj);
    steps = PyMem_Calloc((size_t)(n ? n : 1), sizeof *steps);
    if (steps == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(steps_obj, i);
        Py_ssize_t len;
        long *fields[8] = {&steps[i].flags, &steps[i].nr, &steps[i].a[0], &steps[i].a[1],
                           &steps[i].a[2], &steps[i].a[3], &steps[i].a[4], &steps[i].a[5]};

        if (!PyTuple_Check(item) || (len = PyTuple_GET_SIZE(item)) < 2 || len > 8) {
            PyErr_SetString(PyExc_TypeError,
                            "fork_script: each step is (flags, nr, *args), at most 6 args");
            PyMem_Free(steps);
            return NULL;
        }
        for (Py_ssize_t j = 0; j < len; j++) {
            if (as_long(PyTuple_GET_ITEM(item, j), fields[j]) < 0) {
                PyMem_Free(steps);
                return NULL;
            }
        }
    }
    pid = fork();
    if (pid == 0)
        run_steps(steps, n, (int)out, (unsigned)alarm_seconds);
    PyMem_Free(steps);
    if (pid < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong((long)pid);
}

/* --- kernel attempts for the hot wrappers (seccompat.calls) ----------------
 * Generic shapes, the syscall number always from seccompat's table.  Each
 * returns the result (or the buffer the kernel filled), or the errno as a
 * negative int: the Python wrapper decides what a failure means.  Paths go
 * through PyUnicode_FSConverter, exactly as the os module converts them.
 */

/* openat2(path, flags=O_RDONLY, mode=0o777, *, dir_fd=None, resolve=0): the
 * public seccompat.calls.openat2 when this module is built.  It handles only the
 * plain case (int arguments in range, the kernel answering); anything else, and
 * ENOSYS or EPERM (which need the classifier), goes to the Python implementation
 * registered with set_openat2(), with the very same arguments. */
static PyObject *openat2_python = NULL;
static long openat2_nr = -1;

static PyObject *
set_openat2(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long nr;

    (void)module;
    if (nargs != 2 || !PyCallable_Check(args[1]) || as_long(args[0], &nr) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "set_openat2(nr, python_implementation)");
        return NULL;
    }
    Py_XSETREF(openat2_python, Py_NewRef(args[1]));
    openat2_nr = nr;
    Py_RETURN_NONE;
}

/* A str or bytes path as the os module converts it, or NULL (no error set) for
 * anything else -- another type, an embedded NUL: the Python side raises the
 * right error for those. */
static PyObject *
plain_path(PyObject *obj)
{
    PyObject *path = NULL;

    if (!PyUnicode_CheckExact(obj) && !PyBytes_CheckExact(obj))
        return NULL;
    if (!PyUnicode_FSConverter(obj, &path)) {
        PyErr_Clear();
        return NULL;
    }
    return path;
}

/* dir_fd=None and follow_symlinks=<bool>, as access and statx take them: 1 when
 * key/value is one of those (follow_symlinks=False adds AT_SYMLINK_NOFOLLOW). */
static int
path_keyword(PyObject *key, PyObject *value, long *flags)
{
    if (PyUnicode_CompareWithASCIIString(key, "dir_fd") == 0)
        return value == Py_None;
    if (PyUnicode_CompareWithASCIIString(key, "follow_symlinks") == 0 && PyBool_Check(value)) {
        *flags |= value == Py_False ? AT_SYMLINK_NOFOLLOW : 0;
        return 1;
    }
    return 0;
}

static int
small_uint(PyObject *obj, long *out)
{
    /* An exact int in [0, 2**32): anything else is the Python path's business. */
    int overflow = 0;
    long value;

    if (!PyLong_CheckExact(obj))
        return 0;
    value = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow || value < 0 || value > 0xFFFFFFFFL) {
        PyErr_Clear();
        return 0;
    }
    *out = value;
    return 1;
}

static PyObject *
openat2_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *path_obj = NULL, *flags_obj = NULL, *mode_obj = NULL, *dirfd_obj = NULL,
             *resolve_obj = NULL, *path = NULL;
    long flags = 0, mode = 0777, dirfd = -100, resolve = 0, r;
    unsigned long long how[3];
    int err;

    (void)module;
    if (openat2_python == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "openat2: no implementation registered");
        return NULL;
    }
    if (nargs < 1 || nargs > 3)
        goto python;
    path_obj = args[0];
    flags_obj = nargs > 1 ? args[1] : NULL;
    mode_obj = nargs > 2 ? args[2] : NULL;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i), **slot;
        if (PyUnicode_CompareWithASCIIString(key, "flags") == 0) slot = &flags_obj;
        else if (PyUnicode_CompareWithASCIIString(key, "mode") == 0) slot = &mode_obj;
        else if (PyUnicode_CompareWithASCIIString(key, "dir_fd") == 0) slot = &dirfd_obj;
        else if (PyUnicode_CompareWithASCIIString(key, "resolve") == 0) slot = &resolve_obj;
        else goto python;  /* unknown or positional-by-name: let Python say so */
        if (*slot != NULL)
            goto python;
        *slot = args[nargs + i];
    }
    if ((flags_obj && !small_uint(flags_obj, &flags)) || (mode_obj && !small_uint(mode_obj, &mode))
        || (resolve_obj && !small_uint(resolve_obj, &resolve)))
        goto python;
    if (dirfd_obj && dirfd_obj != Py_None) {
        int overflow = 0;
        if (!PyLong_CheckExact(dirfd_obj))
            goto python;
        dirfd = PyLong_AsLongAndOverflow(dirfd_obj, &overflow);
        if (overflow || dirfd < INT_MIN || dirfd > INT_MAX) {
            PyErr_Clear();
            goto python;
        }
    }
    if ((path = plain_path(path_obj)) == NULL)
        goto python;
    how[0] = (unsigned long)flags | O_CLOEXEC;
    /* O_TMPFILE includes O_DIRECTORY: compare the whole mask, not any bit. */
    how[1] = (unsigned long)(((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0);
    how[2] = (unsigned long)resolve;
    Py_BEGIN_ALLOW_THREADS
    r = syscall(openat2_nr, dirfd, PyBytes_AS_STRING(path), how, sizeof how);
    err = r == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (!err)
        return PyLong_FromLong(r);
    if (err != ENOSYS && err != EPERM) {
        errno = err;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_obj);
    }
python:
    return PyObject_Vectorcall(openat2_python, args, nargsf, kwnames);
}

/* Wrappers whose plain case runs here (seccompat.calls registers them): exact
 * ints and str/bytes paths, the kernel's success or its definite answer.  Every
 * other case -- odd arguments, ENOSYS, EPERM (filtered or genuine: the Python side
 * asks), a genuine error that must become an OSError -- goes to the registered
 * Python implementation, which is the reference and repeats the side-effect-free
 * call. */
enum { W_ACCESS, W_FACCESSAT2, W_CLOSE_RANGE, W_GETRANDOM, W_COPY_FILE_RANGE, W_STATX,
       W_COUNT };
/* Each entry's name, and the syscall it makes (as the Python side names them). */
static const char *const wrapper_names[W_COUNT] = {
    "access", "faccessat2", "close_range", "getrandom", "copy_file_range", "statx"};
static const char *const wrapper_syscalls[W_COUNT] = {
    "faccessat2", "faccessat2", "close_range", "getrandom", "copy_file_range", "statx"};
static PyObject *wrapper_python[W_COUNT];
/* What the plain case calls once this thread has seen its arguments filtered or
 * missing (NULL: the Python implementation decides every such call). */
static PyObject *wrapper_fallback[W_COUNT];
static long wrapper_nr[W_COUNT];
/* The syscall arguments a verdict depends on: the probe's kept slots (at most 2). */
#define MAX_KEPT 2
static int wrapper_kept[W_COUNT][MAX_KEPT], wrapper_nkept[W_COUNT];

/* This thread's doomed calls: any = some verdict said filtered or missing (the
 * plain case then never makes the call itself); keys = the kept-slot values whose
 * verdict is known, which may take the fallback at once.  Per OS thread, as seccomp
 * filters are: a new thread starts clear, a forked child inherits the forking
 * thread's.  Filled only by the Python side's verdicts, which it mirrors. */
#define DOOMED_KEYS 8
struct doomed {
    unsigned char any, nkeys;
    long keys[DOOMED_KEYS][MAX_KEPT];
};
static __thread struct doomed wrapper_doomed[W_COUNT];

static int
wrapper_index(const char *entry)
{
    for (int i = 0; i < W_COUNT; i++)
        if (strcmp(entry, wrapper_names[i]) == 0)
            return i;
    return -1;
}

/* Whether this thread knows the verdict for the syscall arguments *sys*: filtered or
 * missing, so the fallback answers. */
static int
doomed_key(int which, const long *sys)
{
    const struct doomed *d = &wrapper_doomed[which];

    for (int k = 0; k < d->nkeys; k++) {
        int j = 0;
        while (j < wrapper_nkept[which] && d->keys[k][j] == sys[wrapper_kept[which][j]])
            j++;
        if (j == wrapper_nkept[which])
            return 1;
    }
    return 0;
}

/* Record *key* (a tuple of the kept-slot values, or None) for entry *i*. */
static void
doom_entry(int i, PyObject *key)
{
    struct doomed *d = &wrapper_doomed[i];
    long values[MAX_KEPT] = {0}, sys[6] = {0};

    d->any = 1;
    if (key == Py_None || PyTuple_GET_SIZE(key) != wrapper_nkept[i] || d->nkeys == DOOMED_KEYS)
        return;  /* no key the plain case could match: Python decides */
    for (int j = 0; j < wrapper_nkept[i]; j++) {
        int overflow = 0;
        values[j] = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(key, j), &overflow);
        if (PyErr_Occurred() || overflow) {
            PyErr_Clear();
            return;
        }
        sys[wrapper_kept[i][j]] = values[j];
    }
    if (!doomed_key(i, sys))
        memcpy(d->keys[d->nkeys++], values, sizeof values);
}

static PyObject *
mark_doomed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *name;

    (void)module;
    if (nargs < 1 || nargs > 2 || !PyUnicode_Check(args[0])
        || (nargs == 2 && args[1] != Py_None && !PyTuple_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "mark_doomed(syscall, key=None)");
        return NULL;
    }
    if ((name = PyUnicode_AsUTF8(args[0])) == NULL)
        return NULL;
    for (int i = 0; i < W_COUNT; i++)
        if (strcmp(name, wrapper_syscalls[i]) == 0)
            doom_entry(i, nargs == 2 ? args[1] : Py_None);
    Py_RETURN_NONE;
}

static PyObject *
set_wrapper(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *name;
    PyObject *fallback = nargs > 3 && args[3] != Py_None ? args[3] : NULL;
    PyObject *kept = nargs > 4 ? args[4] : NULL;
    long nr, slots[MAX_KEPT];
    Py_ssize_t nkept = kept ? PyTuple_Size(kept) : 0;
    int i;

    (void)module;
    if (nargs < 3 || nargs > 5 || !PyUnicode_Check(args[0]) || !PyCallable_Check(args[2])
        || (fallback && !PyCallable_Check(fallback)) || (kept && !PyTuple_Check(kept))
        || nkept > MAX_KEPT) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "set_wrapper(entry, nr, implementation, "
                        "fallback=None, kept=()): kept is a tuple of at most 2 indexes");
        return NULL;
    }
    for (Py_ssize_t j = 0; j < nkept; j++) {
        slots[j] = PyLong_AsLong(PyTuple_GET_ITEM(kept, j));
        if (slots[j] < 0 || slots[j] > 5) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "kept: syscall argument indexes 0..5");
            return NULL;
        }
    }
    name = PyUnicode_AsUTF8(args[0]);
    nr = PyLong_AsLong(args[1]);
    if (name == NULL || (nr == -1 && PyErr_Occurred()))
        return NULL;
    if ((i = wrapper_index(name)) < 0) {
        PyErr_Format(PyExc_ValueError, "no C entry for %s", name);
        return NULL;
    }
    Py_XSETREF(wrapper_python[i], Py_NewRef(args[2]));
    Py_XSETREF(wrapper_fallback[i], fallback ? Py_NewRef(fallback) : NULL);
    wrapper_nr[i] = nr;
    wrapper_nkept[i] = (int)nkept;
    for (Py_ssize_t j = 0; j < nkept; j++)
        wrapper_kept[i][j] = (int)slots[j];
    return Py_NewRef(Py_None);
}

static PyObject *
delegate(int which, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (wrapper_python[which] == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s: no implementation registered",
                     wrapper_names[which]);
        return NULL;
    }
    return PyObject_Vectorcall(wrapper_python[which], args, nargsf, kwnames);
}

/* Whether the plain case of a call this thread saw filtered or missing, with syscall
 * arguments *sys*, takes the fallback at once (else the Python implementation
 * decides). */
static int
takes_fallback(int which, const long *sys)
{
    return wrapper_fallback[which] != NULL && doomed_key(which, sys);
}

static PyObject *at_fdcwd;  /* AT_FDCWD as an int object, made once */

/* faccessat2(AT_FDCWD, path, mode, flags) for access and faccessat2: 0 or the errno;
 * -1 (*fallback_result set) when this thread's verdict sent it to the fallback;
 * -2 when the Python implementation must decide. */
static int
faccess_plain(int which, PyObject *path_obj, long mode, long flags, PyObject **fallback_result)
{
    long sys[6] = {AT_FDCWD, 0, mode, flags}, r;
    PyObject *path = plain_path(path_obj);
    int err;

    if (path == NULL)
        return -2;
    if (wrapper_doomed[which].any) {
        if (takes_fallback(which, sys)) {
            PyObject *mode_obj = PyLong_FromLong(mode), *flags_obj = PyLong_FromLong(flags);
            PyObject *fargs[5] = {path_obj, path, mode_obj, at_fdcwd, flags_obj};
            *fallback_result = NULL;
            if (mode_obj != NULL && flags_obj != NULL)
                *fallback_result = PyObject_Vectorcall(wrapper_fallback[which], fargs, 5, NULL);
            Py_XDECREF(mode_obj);
            Py_XDECREF(flags_obj);
            Py_DECREF(path);
            return -1;
        }
        Py_DECREF(path);
        return -2;
    }
    Py_BEGIN_ALLOW_THREADS
    r = syscall(wrapper_nr[which], AT_FDCWD, PyBytes_AS_STRING(path), mode, flags);
    err = r == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return err == ENOSYS || err == EPERM ? -2 : err;
}

/* access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True) -> bool
 * and faccessat2(path, mode, *, dir_fd=None, flags=0) -> None or the kernel's OSError:
 * one syscall, their own keywords and answers. */
static PyObject *
faccess_entry(int which, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *result;
    long mode, flags = 0;
    int err;

    if (nargs != 2 || !small_uint(args[1], &mode) || mode > 7)
        return delegate(which, args, nargsf, kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
        if (which == W_ACCESS ? path_keyword(key, value, &flags)
                              : PyUnicode_CompareWithASCIIString(key, "dir_fd") == 0
                                    && value == Py_None)
            continue;
        if (which == W_ACCESS && PyUnicode_CompareWithASCIIString(key, "effective_ids") == 0
            && PyBool_Check(value)) {
            flags |= value == Py_True ? AT_EACCESS : 0;
            continue;
        }
        if (which == W_FACCESSAT2 && PyUnicode_CompareWithASCIIString(key, "flags") == 0
            && small_uint(value, &flags))
            continue;
        return delegate(which, args, nargsf, kwnames);
    }
    err = faccess_plain(which, args[0], mode, flags, &result);
    if (err == -2)
        return delegate(which, args, nargsf, kwnames);
    if (which == W_FACCESSAT2) {
        if (err == -1)
            return result;
        if (err == 0)
            Py_RETURN_NONE;
        errno = err;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, args[0]);
    }
    if (err == -1) {  /* the fallback: None, or an OSError that os.access turns into False */
        if (result == NULL && !PyErr_ExceptionMatches(PyExc_OSError))
            return NULL;
        PyErr_Clear();
        err = result == NULL;
        Py_XDECREF(result);
    }
    return PyBool_FromLong(!err);
}

static PyObject *
access_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)module;
    return faccess_entry(W_ACCESS, args, nargsf, kwnames);
}

static PyObject *
faccessat2_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)module;
    return faccess_entry(W_FACCESSAT2, args, nargsf, kwnames);
}

/* close_range(first, last, flags=0) */
static PyObject *
close_range_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    long first, last, flags = 0, r;

    (void)module;
    if (kwnames != NULL || nargs < 2 || nargs > 3
        || !small_uint(args[0], &first) || !small_uint(args[1], &last)
        || (nargs == 3 && !small_uint(args[2], &flags)))
        return delegate(W_CLOSE_RANGE, args, nargsf, kwnames);
    if (wrapper_doomed[W_CLOSE_RANGE].any) {
        long sys[6] = {first, last, flags};
        if (takes_fallback(W_CLOSE_RANGE, sys))
            return PyObject_Vectorcall(wrapper_fallback[W_CLOSE_RANGE], args, nargsf, NULL);
        return delegate(W_CLOSE_RANGE, args, nargsf, kwnames);
    }
    Py_BEGIN_ALLOW_THREADS
    r = syscall(wrapper_nr[W_CLOSE_RANGE], first, last, flags);
    Py_END_ALLOW_THREADS
    if (r == 0)
        Py_RETURN_NONE;
    return delegate(W_CLOSE_RANGE, args, nargsf, kwnames);
}

/* getrandom(size, flags=0) */
#define GETRANDOM_MAX_PER_CALL (32L << 20)

static PyObject *
getrandom_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    long size, flags = 0, r;
    PyObject *out;
    int err;

    (void)module;
    if (kwnames != NULL || nargs < 1 || nargs > 2
        || !small_uint(args[0], &size) || size > GETRANDOM_MAX_PER_CALL
        || (nargs == 2 && !small_uint(args[1], &flags)))
        return delegate(W_GETRANDOM, args, nargsf, kwnames);
    if (wrapper_doomed[W_GETRANDOM].any) {
        long sys[6] = {0, size, flags};
        if (takes_fallback(W_GETRANDOM, sys))
            return PyObject_Vectorcall(wrapper_fallback[W_GETRANDOM], args, nargsf, NULL);
        return delegate(W_GETRANDOM, args, nargsf, kwnames);
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = syscall(wrapper_nr[W_GETRANDOM], size ? PyBytes_AS_STRING(out) : NULL, size, flags);
    err = r == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    if (err) {
        Py_DECREF(out);
        return delegate(W_GETRANDOM, args, nargsf, kwnames);
    }
    if (r != size && _PyBytes_Resize(&out, r) != 0)
        return NULL;
    return out;
}

/* copy_file_range(src, dst, count, offset_src=None, offset_dst=None) */
static int
offset_arg(PyObject *obj, long long *value, long long **ptr)
{
    /* None: the file offset (NULL); an exact int >= 0: that offset. */
    int overflow = 0;

    if (obj == NULL || obj == Py_None) {
        *ptr = NULL;
        return 1;
    }
    if (!PyLong_CheckExact(obj))
        return 0;
    *value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow || *value < 0) {
        PyErr_Clear();
        return 0;
    }
    *ptr = value;
    return 1;
}

static PyObject *
copy_file_range_entry(PyObject *module, PyObject *const *args, size_t nargsf,
                      PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *off_src_obj = nargs > 3 ? args[3] : NULL, *off_dst_obj = nargs > 4 ? args[4] : NULL;
    long long off_src, off_dst, *src_ptr, *dst_ptr;
    long src, dst, count, r;
    int overflow = 0;

    (void)module;
    if (nargs < 3 || nargs > 5)
        return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i), **slot;
        if (PyUnicode_CompareWithASCIIString(key, "offset_src") == 0) slot = &off_src_obj;
        else if (PyUnicode_CompareWithASCIIString(key, "offset_dst") == 0) slot = &off_dst_obj;
        else return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
        if (*slot != NULL)  /* given twice: let Python say so */
            return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
        *slot = args[nargs + i];
    }
    if (!small_uint(args[0], &src) || !small_uint(args[1], &dst) || src > INT_MAX
        || dst > INT_MAX || !PyLong_CheckExact(args[2])
        || !offset_arg(off_src_obj, &off_src, &src_ptr)
        || !offset_arg(off_dst_obj, &off_dst, &dst_ptr))
        return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
    count = PyLong_AsLongAndOverflow(args[2], &overflow);
    if (overflow || count < 0) {
        PyErr_Clear();
        return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
    }
    if (wrapper_doomed[W_COPY_FILE_RANGE].any) {
        long sys[6] = {src, 0, dst, 0, count, 0};
        PyObject *fargs[5] = {args[0], args[1], args[2], off_src_obj ? off_src_obj : Py_None,
                              off_dst_obj ? off_dst_obj : Py_None};
        if (takes_fallback(W_COPY_FILE_RANGE, sys))
            return PyObject_Vectorcall(wrapper_fallback[W_COPY_FILE_RANGE], fargs, 5, NULL);
        return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
    }
    Py_BEGIN_ALLOW_THREADS
    r = syscall(wrapper_nr[W_COPY_FILE_RANGE], src, src_ptr, dst, dst_ptr, count, 0);
    Py_END_ALLOW_THREADS
    if (r >= 0)
        return PyLong_FromLong(r);
    return delegate(W_COPY_FILE_RANGE, args, nargsf, kwnames);
}

/* statx(path, mask=STATX_BASIC_STATS, *, dir_fd=None, follow_symlinks=True, flags=0)
 * -> seccompat.calls._statx.Statx, built here from struct statx (include/uapi/linux/
 * stat.h, 256 bytes) exactly as _from_kernel builds it. */
static PyObject *statx_result_type = NULL;

static PyObject *
set_statx_result(PyObject *module, PyObject *type)
{
    (void)module;
    if (!PyType_Check(type) || !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "set_statx_result(a tuple subclass)");
        return NULL;
    }
    Py_XSETREF(statx_result_type, Py_NewRef(type));
    Py_RETURN_NONE;
}

#define U32(off) (*(const uint32_t *)(buf + (off)))
#define U16(off) (*(const uint16_t *)(buf + (off)))
#define U64(off) (*(const uint64_t *)(buf + (off)))
#define I64(off) (*(const int64_t *)(buf + (off)))

static PyObject *
ns_or_none(const unsigned char *buf, size_t off, int present)
{
    __int128 ns = (__int128)I64(off) * 1000000000 + U32(off + 8);
    if (!present)
        Py_RETURN_NONE;
    if (ns > INT64_MAX || ns < INT64_MIN)  /* beyond 2262: Python's ints, not ours */
        return NULL;
    return PyLong_FromLongLong((long long)ns);
}

static PyObject *
statx_tuple(const unsigned char *buf)
{
    uint32_t mask = U32(0);
    int dio = (mask & 0x2000) != 0;
    PyObject *values[21];
    PyObject *tuple, *args, *result = NULL;
    int i, ok = 1;

    /* A field whose STATX_* bit the kernel left out of stx_mask is None. */
#define IF_MASK(bits, value) ((mask & (bits)) == (bits) ? (value) : Py_NewRef(Py_None))
    values[0] = PyLong_FromUnsignedLong(mask);
    values[1] = PyLong_FromUnsignedLong(U32(4));
    values[2] = PyLong_FromUnsignedLongLong(U64(8));
    values[3] = PyLong_FromUnsignedLongLong(U64(56));
    values[4] = IF_MASK(0x4, PyLong_FromUnsignedLong(U32(16)));
    values[5] = IF_MASK(0x8, PyLong_FromUnsignedLong(U32(20)));
    values[6] = IF_MASK(0x10, PyLong_FromUnsignedLong(U32(24)));
    values[7] = IF_MASK(0x1 | 0x2, PyLong_FromUnsignedLong(U16(28)));
    values[8] = IF_MASK(0x100, PyLong_FromUnsignedLongLong(U64(32)));
    values[9] = IF_MASK(0x200, PyLong_FromUnsignedLongLong(U64(40)));
    values[10] = IF_MASK(0x400, PyLong_FromUnsignedLongLong(U64(48)));
#undef IF_MASK
    values[11] = ns_or_none(buf, 64, (mask & 0x20) != 0);
    values[12] = ns_or_none(buf, 80, (mask & 0x800) != 0);
    values[13] = ns_or_none(buf, 96, (mask & 0x80) != 0);
    values[14] = ns_or_none(buf, 112, (mask & 0x40) != 0);
    values[15] = PyLong_FromUnsignedLongLong(makedev(U32(128), U32(132)));
    values[16] = PyLong_FromUnsignedLongLong(makedev(U32(136), U32(140)));
    values[17] = mask & (0x1000 | 0x4000) ? PyLong_FromUnsignedLongLong(U64(144))
                                          : Py_NewRef(Py_None);
    values[18] = dio ? PyLong_FromUnsignedLong(U32(152)) : Py_NewRef(Py_None);
    values[19] = dio ? PyLong_FromUnsignedLong(U32(156)) : Py_NewRef(Py_None);
    values[20] = mask & 0x8000 ? PyLong_FromUnsignedLongLong(U64(160)) : Py_NewRef(Py_None);
    for (i = 0; i < 21; i++)
        ok &= values[i] != NULL;
    if (!ok) {
        for (i = 0; i < 21; i++)
            Py_XDECREF(values[i]);
        PyErr_Clear();
        return NULL;  /* the caller hands over to Python */
    }
    tuple = PyTuple_New(21);
    if (tuple == NULL)
        return NULL;
    for (i = 0; i < 21; i++)
        PyTuple_SET_ITEM(tuple, i, values[i]);
    args = PyTuple_Pack(1, tuple);
    Py_DECREF(tuple);
    if (args != NULL) {
        result = PyTuple_Type.tp_new((PyTypeObject *)statx_result_type, args, NULL);
        Py_DECREF(args);
    }
    return result;
}

static PyObject *
statx_entry(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    long mask = 0x7FF, flags = 0, r;
    PyObject *path = NULL, *result;
    unsigned char buf[256] __attribute__((aligned(8)));
    int err;

    (void)module;
    if (nargs < 1 || nargs > 2 || statx_result_type == NULL
        || (nargs == 2 && !small_uint(args[1], &mask)))
        return delegate(W_STATX, args, nargsf, kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
        if (path_keyword(key, value, &flags))
            continue;
        if (PyUnicode_CompareWithASCIIString(key, "flags") == 0 && PyLong_CheckExact(value)
            && PyLong_AsLong(value) == 0)
            continue;
        PyErr_Clear();
        return delegate(W_STATX, args, nargsf, kwnames);
    }
    if ((path = plain_path(args[0])) == NULL)
        return delegate(W_STATX, args, nargsf, kwnames);
    if (wrapper_doomed[W_STATX].any) {
        long sys[6] = {AT_FDCWD, 0, flags, mask};
        PyObject *fargs[5] = {args[0], path, Py_None, NULL, NULL};
        if (!takes_fallback(W_STATX, sys)) {
            Py_DECREF(path);
            return delegate(W_STATX, args, nargsf, kwnames);
        }
        result = NULL;
        if ((fargs[3] = PyLong_FromLong(flags)) && (fargs[4] = PyLong_FromLong(mask)))
            result = PyObject_Vectorcall(wrapper_fallback[W_STATX], fargs, 5, NULL);
        Py_XDECREF(fargs[3]);
        Py_XDECREF(fargs[4]);
        Py_DECREF(path);
        return result;
    }
    Py_BEGIN_ALLOW_THREADS
    r = syscall(wrapper_nr[W_STATX], AT_FDCWD, PyBytes_AS_STRING(path), flags, mask, buf);
    err = r == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (err)  /* genuine or not: statx has no side effects, Python repeats and decides */
        return delegate(W_STATX, args, nargsf, kwnames);
    result = statx_tuple(buf);
    if (result == NULL && !PyErr_Occurred())
        return delegate(W_STATX, args, nargsf, kwnames);
    return result;
}

static PyMethodDef methods[] = {
    {"set_wrapper", (PyCFunction)(void (*)(void))set_wrapper, METH_FASTCALL,
     "set_wrapper(entry, nr, implementation, fallback=None, kept=()): register a C entry's\n"
     "number, its Python path, and the fallback its plain case takes once this thread\n"
     "knows the verdict for the values of its syscall arguments kept"},
    {"access", (PyCFunction)(void (*)(void))access_entry, METH_FASTCALL | METH_KEYWORDS,
     "access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True)\n--\n\n"
     "os.access with the same signature, right under a seccomp filter: faccessat2(2)\n"
     "first; when the kernel lacks it or a filter blocks it, the checks emulated in\n"
     "the kernel's order. Details: seccompat.calls._faccessat2."},
    {"set_statx_result", (PyCFunction)set_statx_result, METH_O,
     "set_statx_result(cls): the tuple subclass statx returns"},
    {"statx", (PyCFunction)(void (*)(void))statx_entry, METH_FASTCALL | METH_KEYWORDS,
     "statx(path, mask=2047, *, dir_fd=None, follow_symlinks=True, flags=0)\n"
     "--\n\nstatx(2) -- the status of path (a path, or an open fd as os.stat accepts).\n"
     "Linux 4.11; fallback fstatat(2) and /proc/self/fdinfo. Details: seccompat.calls._statx."},
    {"mark_doomed", (PyCFunction)(void (*)(void))mark_doomed, METH_FASTCALL,
     "mark_doomed(syscall, key=None): this thread saw it filtered or missing (for the\n"
     "kept-slot values key): its plain case no longer makes the call"},
    {"faccessat2", (PyCFunction)(void (*)(void))faccessat2_entry, METH_FASTCALL | METH_KEYWORDS,
     "faccessat2(path, mode, *, dir_fd=None, flags=0)\n--\n\n"
     "faccessat2(2) -- check path for mode; None, or the kernel's OSError. Linux 5.8;\n"
     "fallback faccessat(2) or an emulation. Details: seccompat.calls._faccessat2."},
    {"getrandom", (PyCFunction)(void (*)(void))getrandom_entry, METH_FASTCALL | METH_KEYWORDS,
     "getrandom(size, flags=0)\n--\n\n"
     "getrandom(2) -- up to size random bytes (os.getrandom's semantics). Linux 3.17;\n"
     "fallback /dev/urandom. Details: seccompat.calls._getrandom."},
    {"copy_file_range", (PyCFunction)(void (*)(void))copy_file_range_entry,
     METH_FASTCALL | METH_KEYWORDS,
     "copy_file_range(src, dst, count, offset_src=None, offset_dst=None)\n--\n\n"
     "copy_file_range(2) -- copy up to count bytes between file descriptors. Linux 4.5;\n"
     "fallback pread/pwrite after the kernel's checks. Details: seccompat.calls._copy_file_range."},
    {"close_range", (PyCFunction)(void (*)(void))close_range_entry, METH_FASTCALL | METH_KEYWORDS,
     "close_range(first, last, flags=0)\n--\n\n"
     "close_range(2) -- close (or mark close-on-exec) every open descriptor from first\n"
     "to last. Linux 5.9; fallback over exactly the open descriptors. Details:\n"
     "seccompat.calls._close_range."},
    {"fork_script", (PyCFunction)(void (*)(void))fork_script, METH_FASTCALL,
     "fork_script(steps, out_fd, alarm_seconds) -> pid: raw syscalls in a forked child\n"
     "that never runs Python; see seccompat.forking.fork_script"},
    {"syscall", (PyCFunction)(void (*)(void))raw_syscall, METH_FASTCALL,
     "syscall(nr, *args) -> (result, errno)"},
    {"set_openat2", (PyCFunction)(void (*)(void))set_openat2, METH_FASTCALL,
     "set_openat2(nr, implementation): register openat2's number and Python path"},
    {"openat2", (PyCFunction)(void (*)(void))openat2_entry, METH_FASTCALL | METH_KEYWORDS,
     "openat2(path, flags=os.O_RDONLY, mode=0o777, *, dir_fd=None, resolve=0)\n--\n\n"
     "openat2(2) -- open path (relative to dir_fd) with RESOLVE_* restrictions.\n\n"
     "Like os.open: close-on-exec, mode only with O_CREAT or O_TMPFILE. resolve:\n"
     "RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS,\n"
     "RESOLVE_NO_XDEV, RESOLVE_CACHED. Linux 5.6. When the kernel lacks openat2 or a\n"
     "seccomp filter blocks it: openat(2) for resolve 0, else a userspace resolver\n"
     "as strict as the kernel (seccompat.calls._resolver), which refuses with EAGAIN\n"
     "rather than guess. Details: seccompat.calls._openat2._openat2."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "seccompat._rawcall", "syscall(2) without ctypes", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__rawcall(void)
{
    if (at_fdcwd == NULL && (at_fdcwd = PyLong_FromLong(AT_FDCWD)) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
