"""Raw syscalls in a forked child: the one mechanism behind the isolated probes and
the filter oracle.

:func:`fork_script` forks a child that runs a list of steps, each one raw syscall,
and reports on a pipe: ``b I`` before and ``e I RESULT ERRNO TRAPPED`` after a step
flagged :data:`REPORT`; ``s I ERRNO`` when a step flagged :data:`ABORT` fails (the
child then exits with status 2).  :data:`CLOSE` closes a successful step's result
(a descriptor).  A filter's TRAP (a catchable SIGSYS) sets TRAPPED.  Every child
ends itself with SIGALRM after *alarm* seconds, so a call that something holds
(an outer seccomp supervisor that never answers) cannot hang the caller.
:class:`Report` reads the lines back.

Some facts about forking inside a library:

* After fork(2) in a process with several threads, the child has one thread and
  may only do async-signal-safe work: the interpreter's own locks (the GIL among
  them) may be held by threads that no longer exist.  The C accelerator's
  ``fork_script`` therefore converts every step before forking and runs the child
  without ever touching Python.
* ``os.fork()`` makes the interpreter safe in the child again, but runs the hooks
  of ``os.register_at_fork``: ``random`` reseeds with getrandom(2) there, so under
  a filter that kills getrandom the child dies before it does anything.
* So, without the accelerator: a process with one thread, forking from its main
  thread, forks through libc (``ctypes.PyDLL`` keeps the GIL held; nothing else
  can hold it) and runs the steps in Python with no hook run; otherwise it uses
  ``os.fork()``, whose at-fork hooks are then the residual risk (a KILL or TRAP
  rule for getrandom ends that child early, which the report shows).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import warnings
from collections.abc import Sequence

from . import _proc as proc
from .raw import ctypes_syscall, fast

__all__ = ["ABORT", "CHILD_TIMEOUT", "CLOSE", "OWN_CALLS", "REPORT", "Report", "fork_script",
           "run_script"]

REPORT, CLOSE, ABORT = 1, 2, 4
#: Seconds a script child may take before SIGALRM ends it.
CHILD_TIMEOUT = 10

_pylibc = ctypes.PyDLL(None, use_errno=True)

#: The syscalls a script child makes besides its steps (its report lines, the
#: closes of CLOSE steps, the return from a TRAP's handler, its exit): the C child
#: makes no other; None where the child runs Python, which makes any.
OWN_CALLS: frozenset[str] | None = None if fast is None else frozenset(
    {"write", "close", "rt_sigreturn", "exit", "exit_group"})


class _GilLibc:
    """syscall(2), read(2) and write(2) called without releasing the GIL."""

    def __init__(self) -> None:
        self._syscall = _pylibc.syscall
        self._syscall.restype = ctypes.c_long
        self._read = _pylibc.read
        self._read.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
        self._read.restype = ctypes.c_ssize_t
        self._write = _pylibc.write
        self._write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
        self._write.restype = ctypes.c_ssize_t
        self._buf = ctypes.create_string_buffer(256)

    def syscall(self, nr: int, *args: int) -> tuple[int, int]:
        result = self._syscall(*(ctypes.c_long(a - 2**64 if a >= 2**63 else a)
                                 for a in (nr, *args)))
        return result, (ctypes.get_errno() if result == -1 else 0)

    def read(self, fd: int) -> bytes:
        got = self._read(fd, self._buf, len(self._buf))
        return self._buf.raw[:got] if got > 0 else b""

    def write(self, fd: int, data: bytes) -> None:
        self._write(fd, data, len(data))


_gil = _GilLibc()


def fork_script(steps: Sequence[tuple[int, ...]], out_fd: int, alarm: int | None = None) -> int:
    """Fork a child that runs *steps*, each ``(flags, nr, *args)`` with at most six
    int arguments, reporting on *out_fd* (see the module docstring); returns its pid.
    *alarm* defaults to :data:`CHILD_TIMEOUT`.  The caller closes its copy of
    *out_fd*, reads to EOF and reaps the child."""
    script = tuple(tuple(int(v) for v in step) for step in steps)
    alarm = CHILD_TIMEOUT if alarm is None else alarm
    if fast is not None:
        return int(fast.fork_script(script, out_fd, alarm))
    quiet = threading.current_thread() is threading.main_thread() and proc.thread_count() == 1
    if quiet:
        fork_fn = _pylibc.fork
        fork_fn.restype = ctypes.c_int
        pid = int(fork_fn())
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    else:
        with warnings.catch_warnings():  # 3.12+ warns about fork() with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = _run(script, out_fd, alarm, quiet)
        finally:
            os._exit(code)
    return pid


def _run(script: tuple[tuple[int, ...], ...], out: int, alarm: int, quiet: bool,
         ) -> int:  # pragma: no cover - runs in the child
    """The steps, in Python: the pure-Python build's child."""
    sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(sig_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGSYS, lambda *_: None)
    # A crash or the deadline ends the child; inherited handlers (faulthandler)
    # must not run here.
    for sig in (signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT,
                signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGSYS, signal.SIGALRM})
    if alarm:
        signal.alarm(alarm)
    call = _gil.syscall if quiet else ctypes_syscall
    write = _gil.write if quiet else os.write
    for index, (flags, nr, *args) in enumerate(script):
        if flags & REPORT:
            write(out, b"b %d\n" % index)
        result, err = call(nr, *args)
        trapped = bytes([signal.SIGSYS]) in _gil.read(sig_r)
        if err and flags & ABORT:
            write(out, b"s %d %d\n" % (index, err))
            return 2
        if not err and not trapped and result >= 0 and flags & CLOSE:
            with contextlib.suppress(OSError):
                os.close(result)
        if flags & REPORT:
            write(out, b"e %d %d %d %d\n" % (index, result, err, trapped))
    return 0


class Report:
    """What a script child said so far: fed its bytes as they arrive."""

    def __init__(self) -> None:
        self.begun: int | None = None
        """The step begun and not ended (the one a death or stop belongs to)."""
        self.ended: dict[int, tuple[int, int, bool]] = {}
        """Step index -> (result, errno, trapped)."""
        self.aborted: tuple[int, int] | None = None
        """(step index, errno) of a failed ABORT step."""
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            fields = line.split()
            if not fields:
                continue
            kind, values = fields[0], [int(x) for x in fields[1:]]
            if kind == b"b":
                self.begun = values[0]
            elif kind == b"e":
                self.ended[values[0]] = (values[1], values[2], bool(values[3]))
                self.begun = None
            elif kind == b"s":
                self.aborted = (values[0], values[1])

    def read_all(self, fd: int) -> None:
        """Read *fd* to its end (the child's exit), or, when *fd* is non-blocking, as
        far as it has data now."""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                self.feed(chunk)


def run_script(steps: Sequence[tuple[int, ...]]) -> tuple[Report, int]:
    """:func:`fork_script` to the end: what the child reported, and its wait status."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = fork_script(steps, w)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    report = Report()
    try:
        report.read_all(r)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    return report, status
