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
#include <limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>
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
 * something holds.  This is seccompat._forking.fork_script's fast path: after a
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

/* --- entry: a wrapper's plain case, driven by its description --------------
 *
 * entry(implementation, fallback, description) -> a callable with the Python
 * implementation's signature.  It knows no syscall: seccompat.calls._entry builds
 * each description (which parameters, what each puts in which register, what the
 * result is) from the wrapper's own constants.  It answers the plain case only --
 * exact ints in the described ranges, str/bytes paths (converted as the os module
 * converts them), the kernel's success or a definite error -- and hands every
 * other call, with the very same arguments, to the Python implementation, which is
 * the reference: odd arguments, ENOSYS and EPERM (filtered or genuine: the Python
 * side asks), an error the description does not turn into an answer.
 *
 * Once this thread knows that the call, for the values of its kept registers, is
 * filtered or missing (mark_doomed, from the Python verdicts it mirrors), the
 * plain case calls the fallback itself with the described arguments, without the
 * doomed syscall or the Python verdict lookup in between. */

enum { K_PATH, K_INT, K_BOOL, K_NONE, K_POINTED };  /* parameter kinds */
enum { R_VALUE, R_WORDS, R_OUT };                   /* register kinds */
enum { RES_NONE, RES_BOOL, RES_INT, RES_BYTES, RES_STRUCT };
enum { ERR_DELEGATE, ERR_RAISE };
enum { A_GIVEN, A_ENCODED, A_REGISTER, A_CONST };   /* fallback argument sources */
enum { D_U16, D_U32, D_U64, D_NS, D_DEV };          /* struct field decoders */

#define MAX_PARAMS 6
#define MAX_WORDS 4
#define MAX_FIELDS 32
#define MAX_OUT 512
#define MAX_KEPT 2
#define MAX_ENTRIES 16
#define DOOMED_KEYS 8
#define MAX_ARGS 8

struct param {
    PyObject *keyword;      /* accepted by this name (NULL: positional only) */
    PyObject *dflt;         /* NULL: required */
    int kind, none_ok, reg, word, replace, gate;
    long lo, hi, bits_true, bits_false, gate_masks[2];
};

struct field { int decoder, all; long offset, bits; };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *dict;         /* functools.update_wrapper's attributes */
    PyObject *implementation, *fallback, *result_type;
    PyObject *fallback_args;  /* tuple of (source, index or object) */
    PyObject *syscall;        /* the name mark_doomed matches */
    unsigned long generation;
    int index, nparams, npositional, nregs, nwords, nkept, nfields, nargs;
    int arg_source[MAX_ARGS], arg_index[MAX_ARGS];
    int result, errors, out_param, path_param;
    long nr, out_size, mask_offset;
    int reg_kind[6];
    long reg_value[6];
    long long word_base[MAX_WORDS];
    int kept[MAX_KEPT];
    struct param params[MAX_PARAMS];
    struct field fields[MAX_FIELDS];
} Entry;

/* This thread's doomed calls, per entry: any = some verdict said filtered or
 * missing (the plain case then never makes the call itself); keys = the kept
 * register values whose verdict is known, which take the fallback at once.  Per OS
 * thread, as seccomp filters are: a new thread starts clear, a forked child
 * inherits the forking thread's. */
struct doomed {
    unsigned long generation;  /* the entry this slot's state is about */
    unsigned char any, nkeys;
    long keys[DOOMED_KEYS][MAX_KEPT];
};
static __thread struct doomed doomed[MAX_ENTRIES];
static unsigned long generations;  /* entries made so far: each its own generation */

/* This thread's state for entry *e*: clear if the slot last served an older entry. */
static struct doomed *
doomed_state(const Entry *e)
{
    struct doomed *d = &doomed[e->index];

    if (d->generation != e->generation)
        *d = (struct doomed){.generation = e->generation};
    return d;
}

static Entry *entries[MAX_ENTRIES];  /* borrowed: an entry leaves this table when freed */

static int
doomed_key(const Entry *e, const long *regs)
{
    const struct doomed *d = doomed_state(e);

    for (int k = 0; k < d->nkeys; k++) {
        int j = 0;
        while (j < e->nkept && d->keys[k][j] == regs[e->kept[j]])
            j++;
        if (j == e->nkept)
            return 1;
    }
    return 0;
}

static void
doom(const Entry *e, PyObject *key)
{
    struct doomed *d = doomed_state(e);
    long values[MAX_KEPT] = {0}, regs[6] = {0};

    d->any = 1;
    if (key == Py_None || PyTuple_GET_SIZE(key) != e->nkept || d->nkeys == DOOMED_KEYS)
        return;  /* no key the plain case could match: Python decides */
    for (int j = 0; j < e->nkept; j++) {
        int overflow = 0;
        values[j] = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(key, j), &overflow);
        if (PyErr_Occurred() || overflow) {
            PyErr_Clear();
            return;
        }
        regs[e->kept[j]] = values[j];
    }
    if (!doomed_key(e, regs))
        memcpy(d->keys[d->nkeys++], values, sizeof values);
}

static PyObject *
mark_doomed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs < 1 || nargs > 2 || !PyUnicode_Check(args[0])
        || (nargs == 2 && args[1] != Py_None && !PyTuple_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "mark_doomed(syscall, key=None)");
        return NULL;
    }
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (entries[i] == NULL)
            continue;
        int same = PyUnicode_Compare(entries[i]->syscall, args[0]);
        if (same == -1 && PyErr_Occurred())
            return NULL;
        if (same == 0)
            doom(entries[i], nargs == 2 ? args[1] : Py_None);
    }
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

/* An exact int in [lo, hi]: 1 and *out, else 0 (no error set). */
static int
int_in(PyObject *obj, long lo, long hi, long *out)
{
    int overflow = 0;
    long value;

    if (!PyLong_CheckExact(obj))
        return 0;
    value = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow || value < lo || value > hi) {
        PyErr_Clear();
        return 0;
    }
    *out = value;
    return 1;
}

static int
gate_open(const struct param *p, const long *values)
{
    if (p->gate < 0)
        return 1;
    for (int m = 0; m < 2; m++)
        if (p->gate_masks[m] && (values[p->gate] & p->gate_masks[m]) == p->gate_masks[m])
            return 1;
    return 0;
}

static PyObject *
decode_struct(const Entry *e, const unsigned char *buf)
{
    uint32_t mask;
    PyObject *tuple, *args, *result = NULL;

    memcpy(&mask, buf + e->mask_offset, sizeof mask);
    if ((tuple = PyTuple_New(e->nfields)) == NULL)
        return NULL;
    for (int i = 0; i < e->nfields; i++) {
        const struct field *f = &e->fields[i];
        const unsigned char *at = buf + f->offset;
        PyObject *value;
        uint16_t u16;
        uint32_t u32, u32b;
        uint64_t u64;
        int64_t i64;

        if (f->bits && (f->all ? (mask & f->bits) != (unsigned long)f->bits : !(mask & f->bits))) {
            PyTuple_SET_ITEM(tuple, i, Py_NewRef(Py_None));
            continue;
        }
        switch (f->decoder) {
        case D_U16:
            memcpy(&u16, at, sizeof u16);
            value = PyLong_FromUnsignedLong(u16);
            break;
        case D_U32:
            memcpy(&u32, at, sizeof u32);
            value = PyLong_FromUnsignedLong(u32);
            break;
        case D_U64:
            memcpy(&u64, at, sizeof u64);
            value = PyLong_FromUnsignedLongLong(u64);
            break;
        case D_NS: {  /* struct statx_timestamp: s64 seconds, u32 nanoseconds */
            __int128 ns;
            memcpy(&i64, at, sizeof i64);
            memcpy(&u32, at + 8, sizeof u32);
            ns = (__int128)i64 * 1000000000 + u32;
            if (ns > INT64_MAX || ns < INT64_MIN) {  /* beyond 2262: Python's ints */
                Py_DECREF(tuple);
                return NULL;
            }
            value = PyLong_FromLongLong((long long)ns);
            break;
        }
        default:  /* D_DEV: u32 major, u32 minor */
            memcpy(&u32, at, sizeof u32);
            memcpy(&u32b, at + 4, sizeof u32b);
            value = PyLong_FromUnsignedLongLong(makedev(u32, u32b));
        }
        if (value == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, value);
    }
    args = PyTuple_Pack(1, tuple);
    Py_DECREF(tuple);
    if (args != NULL) {
        result = PyTuple_Type.tp_new((PyTypeObject *)e->result_type, args, NULL);
        Py_DECREF(args);
    }
    return result;
}

/* The doomed plain case: the fallback, with the described arguments. */
static PyObject *
call_fallback(const Entry *e, PyObject *const *given, PyObject *const *encoded,
              const long *regs)
{
    PyObject *fargs[MAX_ARGS], *result = NULL;
    int i;

    for (i = 0; i < e->nargs; i++) {
        int at = e->arg_index[i];
        if (e->arg_source[i] == A_REGISTER)
            fargs[i] = PyLong_FromLong(regs[at]);
        else
            fargs[i] = Py_NewRef(e->arg_source[i] == A_GIVEN ? given[at]
                                 : e->arg_source[i] == A_ENCODED ? encoded[at]
                                 : PyTuple_GET_ITEM(PyTuple_GET_ITEM(e->fallback_args, i), 1));
        if (fargs[i] == NULL)
            goto done;
    }
    result = PyObject_Vectorcall(e->fallback, fargs, (size_t)e->nargs, NULL);
    if (e->result == RES_BOOL) {  /* None, or an OSError that os.access turns into False */
        if (result == NULL && !PyErr_ExceptionMatches(PyExc_OSError))
            goto done;
        PyErr_Clear();
        Py_XDECREF(result);
        result = PyBool_FromLong(result != NULL);
    }
done:
    while (i-- > 0)
        Py_DECREF(fargs[i]);
    return result;
}

static PyObject *
entry_call(PyObject *self_obj, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    const Entry *e = (const Entry *)self_obj;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *given[MAX_PARAMS] = {NULL}, *encoded[MAX_PARAMS] = {NULL}, *out = NULL, *result;
    long values[MAX_PARAMS] = {0}, regs[6], r;
    long long words[MAX_WORDS];
    unsigned char buf[MAX_OUT] __attribute__((aligned(8)));
    int i, err, ok = 0;

    if (nargs > e->npositional)
        goto python;
    for (i = 0; i < nargs; i++)
        given[i] = args[i];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        for (i = 0; i < e->nparams; i++)
            if (e->params[i].keyword != NULL
                && (key == e->params[i].keyword
                    || PyUnicode_Compare(key, e->params[i].keyword) == 0))
                break;
        if (i == e->nparams || given[i] != NULL)
            goto python;  /* unknown, or given twice: let Python say so */
        given[i] = args[nargs + k];
    }
    for (i = 0; i < e->nparams; i++) {
        const struct param *p = &e->params[i];
        PyObject *v = given[i] != NULL ? given[i] : (given[i] = p->dflt);

        if (v == NULL)
            goto python;
        if (p->none_ok && v == Py_None)
            continue;
        switch (p->kind) {
        case K_PATH:
            if ((encoded[i] = plain_path(v)) == NULL)
                goto python;
            values[i] = (long)PyBytes_AS_STRING(encoded[i]);
            break;
        case K_BOOL:
            if (!PyBool_Check(v))
                goto python;
            values[i] = v == Py_True ? p->bits_true : p->bits_false;
            break;
        case K_NONE:
            goto python;  /* not None (that case continued above) */
        default:  /* K_INT, K_POINTED */
            if (!int_in(v, p->lo, p->hi, &values[i]))
                goto python;
        }
    }
    for (i = 0; i < e->nregs; i++)
        regs[i] = e->reg_value[i];
    for (i = e->nregs; i < 6; i++)
        regs[i] = 0;
    memcpy(words, e->word_base, sizeof words);
    for (i = 0; i < e->nparams; i++) {
        const struct param *p = &e->params[i];
        long *slot;

        if ((p->none_ok && given[i] == Py_None) || p->kind == K_NONE || !gate_open(p, values))
            continue;
        if (p->kind == K_POINTED) {  /* the value in a word, its address in the register */
            words[p->word] = values[i];
            regs[p->reg] = (long)&words[p->word];
            continue;
        }
        slot = p->reg >= 0 ? &regs[p->reg] : (long *)&words[p->word];
        *slot = p->replace ? values[i] : *slot | values[i];
    }
    if (doomed_state(e)->any) {
        if (e->fallback != NULL && doomed_key(e, regs)) {
            result = call_fallback(e, given, encoded, regs);
            goto done;
        }
        goto python;
    }
    if (e->result == RES_BYTES) {
        if ((out = PyBytes_FromStringAndSize(NULL, values[e->out_param])) == NULL)
            goto fail;
    }
    for (i = 0; i < e->nregs; i++) {
        if (e->reg_kind[i] == R_WORDS)
            regs[i] = (long)&words[e->reg_value[i]];
        else if (e->reg_kind[i] == R_OUT)
            regs[i] = out != NULL ? (long)PyBytes_AS_STRING(out) : (long)buf;
    }
    Py_BEGIN_ALLOW_THREADS
    r = syscall(e->nr, regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
    err = r == -1 ? errno : 0;
    Py_END_ALLOW_THREADS
    if (err) {
        Py_CLEAR(out);
        if (err == ENOSYS || err == EPERM)
            goto python;
        if (e->result == RES_BOOL) {
            result = Py_NewRef(Py_False);
            goto done;
        }
        if (e->errors == ERR_DELEGATE)
            goto python;
        errno = err;
        result = PyErr_SetFromErrnoWithFilenameObject(
            PyExc_OSError, e->path_param >= 0 ? given[e->path_param] : NULL);
        goto done;
    }
    switch (e->result) {
    case RES_NONE:
        result = Py_NewRef(Py_None);
        break;
    case RES_BOOL:
        result = Py_NewRef(Py_True);
        break;
    case RES_INT:
        result = PyLong_FromLong(r);
        break;
    case RES_BYTES:
        if (r != values[e->out_param] && _PyBytes_Resize(&out, r) != 0)
            goto fail;
        result = out;
        out = NULL;
        break;
    default:  /* RES_STRUCT */
        if ((result = decode_struct(e, buf)) == NULL && !PyErr_Occurred())
            goto python;
    }
done:
    ok = 1;
fail:
    for (i = 0; i < e->nparams; i++)
        Py_XDECREF(encoded[i]);
    Py_XDECREF(out);
    return ok ? result : NULL;
python:
    for (i = 0; i < e->nparams; i++)
        Py_XDECREF(encoded[i]);
    Py_XDECREF(out);
    return PyObject_Vectorcall(e->implementation, args, nargsf, kwnames);
}

static int
entry_traverse(PyObject *self_obj, visitproc visit, void *arg)
{
    Entry *e = (Entry *)self_obj;

    Py_VISIT(e->dict);
    Py_VISIT(e->implementation);
    Py_VISIT(e->fallback);
    Py_VISIT(e->result_type);
    Py_VISIT(e->fallback_args);
    for (int i = 0; i < e->nparams; i++)
        Py_VISIT(e->params[i].dflt);
    return 0;
}

static int
entry_clear(PyObject *self_obj)
{
    Entry *e = (Entry *)self_obj;

    Py_CLEAR(e->dict);
    Py_CLEAR(e->implementation);
    Py_CLEAR(e->fallback);
    Py_CLEAR(e->result_type);
    Py_CLEAR(e->fallback_args);
    Py_CLEAR(e->syscall);
    for (int i = 0; i < e->nparams; i++) {
        Py_CLEAR(e->params[i].keyword);
        Py_CLEAR(e->params[i].dflt);
    }
    return 0;
}

static void
entry_dealloc(PyObject *self_obj)
{
    Entry *e = (Entry *)self_obj;

    PyObject_GC_UnTrack(self_obj);
    if (e->index >= 0 && entries[e->index] == e)
        entries[e->index] = NULL;
    entry_clear(self_obj);
    PyObject_GC_Del(self_obj);
}

static PyGetSetDef entry_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "seccompat._rawcall.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = entry_dealloc,
    .tp_vectorcall_offset = offsetof(Entry, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_getattro = PyObject_GenericGetAttr,
    .tp_setattro = PyObject_GenericSetAttr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A wrapper's plain case in C; every other call goes to its Python "
              "implementation (__wrapped__).",
    .tp_traverse = entry_traverse,
    .tp_clear = entry_clear,
    .tp_dictoffset = offsetof(Entry, dict),
    .tp_getset = entry_getset,
};

/* --- reading a description (seccompat.calls._entry builds and checks it) ------
 * Codes are ints: CODES (a module attribute made from these tables) names them. */

static const char *const code_names[] = {
    "path", "int", "bool", "none", "pointed",          /* parameter kinds */
    "value", "words", "out",                           /* register kinds */
    "none", "bool", "int", "bytes", "struct",          /* results */
    "delegate", "raise",                               /* errors */
    "given", "encoded", "register", "const",           /* fallback arguments */
    "u16", "u32", "u64", "ns", "dev"};                 /* struct field decoders */
static const char *const code_groups[] = {"param", "register", "result", "errors",
                                          "argument", "decoder"};
static const int group_size[] = {5, 3, 5, 2, 4, 5};

/* A tuple of exactly n ints into out[], each within lo[i]..hi[i] (NULL: any). */
static int
longs(PyObject *t, Py_ssize_t n, long *out, const long *lo, const long *hi)
{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n) {
        PyErr_Format(PyExc_ValueError, "entry: expected %zd ints, got %R", n, t);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsLong(PyTuple_GET_ITEM(t, i));
        if (out[i] == -1 && PyErr_Occurred())
            return -1;
        if (lo != NULL && (out[i] < lo[i] || out[i] > hi[i])) {
            PyErr_Format(PyExc_ValueError, "entry: %R: item %zd is out of range", t, i);
            return -1;
        }
    }
    return 0;
}

/* description[key]: a tuple of at most max items (*n), else NULL with an error. */
static PyObject *
tuple_at(PyObject *d, const char *key, Py_ssize_t max, Py_ssize_t *n)
{
    PyObject *t = PyDict_GetItemString(d, key);

    if (t == NULL || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) > max) {
        PyErr_Format(PyExc_ValueError, "entry: %s is a tuple of at most %zd items", key, max);
        return NULL;
    }
    *n = PyTuple_GET_SIZE(t);
    return t;
}

static int
read_description(Entry *e, PyObject *d)
{
    PyObject *t, *p;
    Py_ssize_t n;
    long v[13];

    e->syscall = Py_XNewRef(PyDict_GetItemString(d, "syscall"));
    if (e->syscall == NULL || !PyUnicode_Check(e->syscall)) {
        PyErr_SetString(PyExc_ValueError, "entry: syscall is a str");
        return -1;
    }
    if ((t = tuple_at(d, "params", MAX_PARAMS, &n)) == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++, e->nparams++) {
        /* (keyword or None, default, (kind, required, none_ok, reg, word, replace, lo,
         *  hi, bits_true, bits_false, gate, gate_mask_a, gate_mask_b)) */
        static const long lo[13] = {0, 0, 0, -1, -1, 0, LONG_MIN, LONG_MIN, LONG_MIN,
                                    LONG_MIN, -1, 0, 0};
        const long hi[13] = {4, 1, 1, 5, MAX_WORDS - 1, 1, LONG_MAX, LONG_MAX, LONG_MAX,
                             LONG_MAX, (long)n - 1, LONG_MAX, LONG_MAX};
        struct param *q = &e->params[i];
        p = PyTuple_GET_ITEM(t, i);
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 3
            || (PyTuple_GET_ITEM(p, 0) != Py_None && !PyUnicode_Check(PyTuple_GET_ITEM(p, 0)))) {
            PyErr_SetString(PyExc_ValueError, "entry: a parameter is (keyword, default, ints)");
            return -1;
        }
        if (longs(PyTuple_GET_ITEM(p, 2), 13, v, lo, hi) < 0)
            return -1;
        *q = (struct param){NULL, NULL, (int)v[0], (int)v[2], (int)v[3], (int)v[4], (int)v[5],
                            (int)v[10], v[6], v[7], v[8], v[9], {v[11], v[12]}};
        if ((q->kind == 4) != (q->reg >= 0 && q->word >= 0)
            || (q->kind != 3 && q->kind != 4 && (q->reg < 0) == (q->word < 0))) {
            PyErr_SetString(PyExc_ValueError, "entry: a parameter writes one register or "
                                              "word (a pointed one: both)");
            return -1;
        }
        if (PyTuple_GET_ITEM(p, 0) != Py_None) {
            q->keyword = Py_NewRef(PyTuple_GET_ITEM(p, 0));
            PyUnicode_InternInPlace(&q->keyword);
        }
        q->dflt = v[1] ? NULL : Py_NewRef(PyTuple_GET_ITEM(p, 1));
    }
    {
        /* (nr, npositional, result, errors, path_param, out_param, out_size,
         *  mask_offset) */
        const long lo[8] = {0, 0, 0, 0, -1, -1, 0, 0};
        const long hi[8] = {LONG_MAX, e->nparams, 4, 1, e->nparams - 1, e->nparams - 1,
                            MAX_OUT, MAX_OUT - 4};
        if ((p = PyDict_GetItemString(d, "shape")) == NULL) {
            PyErr_SetString(PyExc_ValueError, "entry: no shape");
            return -1;
        }
        if (longs(p, 8, v, lo, hi) < 0)
            return -1;
        e->nr = v[0];
        e->npositional = (int)v[1];
        e->result = (int)v[2];
        e->errors = (int)v[3];
        e->path_param = (int)v[4];
        e->out_param = (int)v[5];
        e->out_size = v[6];
        e->mask_offset = v[7];
    }
    if (e->result == RES_BYTES && (e->out_param < 0 || e->params[e->out_param].kind != K_INT
                                   || e->params[e->out_param].lo < 0)) {
        PyErr_SetString(PyExc_ValueError, "entry: a bytes result is sized by an int parameter");
        return -1;
    }
    if ((t = tuple_at(d, "registers", 6, &n)) == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++, e->nregs++) {
        const long lo[2] = {0, LONG_MIN}, hi[2] = {2, LONG_MAX};
        if (longs(PyTuple_GET_ITEM(t, i), 2, v, lo, hi) < 0)
            return -1;
        e->reg_kind[i] = (int)v[0];
        e->reg_value[i] = v[1];
        if (v[0] == R_WORDS && (v[1] < 0 || v[1] >= MAX_WORDS)) {
            PyErr_SetString(PyExc_ValueError, "entry: no such word");
            return -1;
        }
    }
    for (int i = 0; i < e->nparams; i++) {
        if (e->params[i].reg >= e->nregs) {
            PyErr_SetString(PyExc_ValueError, "entry: a parameter names a missing register");
            return -1;
        }
    }
    if ((t = tuple_at(d, "words", MAX_WORDS, &n)) == NULL || longs(t, n, v, NULL, NULL) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        e->word_base[i] = v[i];
    if ((t = tuple_at(d, "kept", MAX_KEPT, &n)) == NULL || longs(t, n, v, NULL, NULL) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++, e->nkept++) {
        if (v[i] < 0 || v[i] > 5) {
            PyErr_SetString(PyExc_ValueError, "entry: kept registers are 0..5");
            return -1;
        }
        e->kept[i] = (int)v[i];
    }
    if ((t = tuple_at(d, "fallback_args", MAX_ARGS, &n)) == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* (source, index): given/encoded parameter, register; (const, object) */
        p = PyTuple_GET_ITEM(t, i);
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2
            || (v[0] = PyLong_AsLong(PyTuple_GET_ITEM(p, 0))) < A_GIVEN || v[0] > A_CONST
            || (v[0] != A_CONST
                && ((v[1] = PyLong_AsLong(PyTuple_GET_ITEM(p, 1))) < 0
                    || v[1] > (v[0] == A_REGISTER ? 5 : e->nparams - 1)
                    || (v[0] == A_ENCODED && e->params[v[1]].kind != K_PATH)))) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "entry: a malformed fallback argument %R", p);
            return -1;
        }
        e->arg_source[i] = (int)v[0];
        e->arg_index[i] = v[0] == A_CONST ? 0 : (int)v[1];
        e->nargs++;
    }
    e->fallback_args = Py_NewRef(t);
    if (e->result != RES_STRUCT)
        return 0;
    e->result_type = Py_XNewRef(PyDict_GetItemString(d, "result_type"));
    if (e->result_type == NULL || !PyType_Check(e->result_type)
        || !PyType_IsSubtype((PyTypeObject *)e->result_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_ValueError, "entry: result_type is a tuple subclass");
        return -1;
    }
    if ((t = tuple_at(d, "fields", MAX_FIELDS, &n)) == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++, e->nfields++) {
        /* (decoder, offset, mask bits, all of them) */
        static const long width[] = {2, 4, 8, 12, 8};
        const long lo[4] = {0, 0, 0, 0}, hi[4] = {4, e->out_size, 0xFFFFFFFFL, 1};
        if (longs(PyTuple_GET_ITEM(t, i), 4, v, lo, hi) < 0)
            return -1;
        if (v[1] + width[v[0]] > e->out_size) {
            PyErr_SetString(PyExc_ValueError, "entry: a field beyond the buffer");
            return -1;
        }
        e->fields[i] = (struct field){(int)v[0], (int)v[3], v[1], v[2]};
    }
    return 0;
}

static PyObject *
make_entry(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Entry *e;
    int slot = 0;

    (void)module;
    if (nargs != 3 || !PyCallable_Check(args[0]) || (args[1] != Py_None && !PyCallable_Check(args[1]))
        || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "entry(implementation, fallback, description: dict)");
        return NULL;
    }
    while (slot < MAX_ENTRIES && entries[slot] != NULL)
        slot++;
    if (slot == MAX_ENTRIES) {
        PyErr_SetString(PyExc_RuntimeError, "entry: too many entries");
        return NULL;
    }
    if ((e = PyObject_GC_New(Entry, &EntryType)) == NULL)
        return NULL;
    memset((char *)e + sizeof(PyObject), 0, sizeof *e - sizeof(PyObject));
    e->index = -1;
    e->vectorcall = entry_call;
    e->implementation = Py_NewRef(args[0]);
    e->fallback = args[1] == Py_None ? NULL : Py_NewRef(args[1]);
    if (read_description(e, args[2]) < 0) {
        Py_DECREF(e);
        return NULL;
    }
    e->index = slot;
    entries[slot] = e;
    e->generation = ++generations;
    PyObject_GC_Track(e);
    return (PyObject *)e;
}

static PyMethodDef methods[] = {
    {"syscall", (PyCFunction)(void (*)(void))raw_syscall, METH_FASTCALL,
     "syscall(nr, *args) -> (result, errno)"},
    {"fork_script", (PyCFunction)(void (*)(void))fork_script, METH_FASTCALL,
     "fork_script(steps, out_fd, alarm_seconds) -> pid: raw syscalls in a forked child\n"
     "that never runs Python; see seccompat._forking.fork_script"},
    {"entry", (PyCFunction)(void (*)(void))make_entry, METH_FASTCALL,
     "entry(implementation, fallback, description) -> a wrapper's plain case in C;\n"
     "see seccompat.calls._entry"},
    {"mark_doomed", (PyCFunction)(void (*)(void))mark_doomed, METH_FASTCALL,
     "mark_doomed(syscall, key=None): this thread saw it filtered or missing (for the\n"
     "kept-register values key): the entries' plain case no longer makes the call"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "seccompat._rawcall", "syscall(2) without ctypes", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__rawcall(void)
{
    PyObject *m, *codes;
    int k = 0;

    if (PyType_Ready(&EntryType) < 0 || (m = PyModule_Create(&module)) == NULL)
        return NULL;
    /* CODES[group][name] -> the int a description uses */
    if ((codes = PyDict_New()) == NULL || PyModule_AddObject(m, "CODES", codes) < 0) {
        Py_XDECREF(codes);
        Py_DECREF(m);
        return NULL;
    }
    for (int g = 0; g < 6; g++) {
        PyObject *group = PyDict_New();
        if (group == NULL || PyDict_SetItemString(codes, code_groups[g], group) < 0) {
            Py_XDECREF(group);
            Py_DECREF(m);
            return NULL;
        }
        Py_DECREF(group);
        for (int c = 0; c < group_size[g]; c++, k++) {
            PyObject *value = PyLong_FromLong(c);
            if (value == NULL || PyDict_SetItemString(group, code_names[k], value) < 0) {
                Py_XDECREF(value);
                Py_DECREF(m);
                return NULL;
            }
            Py_DECREF(value);
        }
    }
    return m;
}
