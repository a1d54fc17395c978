"""Probe in a child process, so a KILL or TRAP action cannot take the caller down.

The child is a fork of the calling thread, so it carries exactly the caller's
seccomp filters.  It runs a batch of probes and reports each on a pipe: "begin i"
before the call, "end i result errno trapped" after it.  A probe that kills the
child (SECCOMP_RET_KILL_*, or an uncatchable signal) is the last one begun; the
parent records it and starts a new child for the rest, so a batch costs one fork
plus one per death.

TRAP delivers a catchable SIGSYS.  The child installs a handler and
``signal.set_wakeup_fd``: the C-level handler writes the signal number into a pipe
at once, so the child sees the trap right after the call returns.  (Blocking
SIGSYS would not do: the kernel force-unblocks a seccomp SIGSYS and kills.)

How the child is forked matters.  ``os.fork()`` runs Python's at-fork hooks in the
child, and ``random`` reseeds there with getrandom(2): under a filter that kills
getrandom the child would die before probing anything.  So, from the main thread,
the child comes from libc's fork() called through ``ctypes.PyDLL``: the GIL stays
held and no Python hook runs.  The child then never releases the GIL (its
syscalls, reads and writes go through PyDLL functions too), so no lock state
copied from other threads can block it, and it leaves with ``os._exit``.  From
another thread ``os.fork()`` is used (the signal module needs the main thread), and
a filter that kills getrandom can then end the child early: that probe reports
"unknown" rather than a wrong verdict.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Sequence

from . import proc
from .classify import Status, Verdict, cached, probe_result, remember, resolve, unprobed
from .probes import PROBES
from .raw import syscall
from .syscalls import Syscall, lookup

__all__ = ["classify_isolated", "run_in_child"]


# libc entry points that keep the GIL held (PyDLL): safe in a child forked
# without Python's knowledge.
_pylibc = ctypes.PyDLL(None, use_errno=True)
_fork = _pylibc.fork
_fork.restype = ctypes.c_int
_gil_syscall = _pylibc.syscall
_gil_syscall.restype = ctypes.c_long
_gil_write = _pylibc.write
_gil_write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
_gil_read = _pylibc.read
_gil_read.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
_gil_read.restype = ctypes.c_ssize_t


_NR_CLOSE = lookup("close").number


def _child(batch: list[tuple[int, int, tuple[int, ...], bool]], out: int, sig_r: int,
           sig_w: int, hold_gil: bool) -> None:
    signal.set_wakeup_fd(sig_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGSYS, lambda *_: None)
    # A crash ends the child and is reported; inherited handlers (faulthandler)
    # must not run in a process Python does not know it forked.
    for sig in (signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT):
        signal.signal(sig, signal.SIG_DFL)
    buf = ctypes.create_string_buffer(64)

    def write(text: str) -> None:
        data = text.encode()
        if hold_gil:
            _gil_write(out, data, len(data))
        else:
            os.write(out, data)

    for index, nr, args, returns_fd in batch:
        write(f"b {index}\n")
        if hold_gil:
            result = _gil_syscall(*(ctypes.c_long(a) for a in (nr, *args)))
            err = ctypes.get_errno() if result == -1 else 0
            got = _gil_read(sig_r, buf, 64)
            trapped = got > 0 and bytes([signal.SIGSYS]) in buf.raw[:got]
        else:
            result, err = syscall(nr, *args)
            try:
                trapped = bytes([signal.SIGSYS]) in os.read(sig_r, 64)
            except BlockingIOError:
                trapped = False
        # After a TRAP the return register holds garbage (the syscall number).
        if not trapped and err == 0 and returns_fd and result >= 0:
            _gil_syscall(ctypes.c_long(_NR_CLOSE), ctypes.c_long(result))
        write(f"e {index} {result} {err} {int(trapped)}\n")


def run_in_child(batch: list[tuple[int, int, tuple[int, ...], bool]]) -> dict[
        int, tuple[str, int, int]]:
    """Run ``(index, nr, args, returns_fd)`` probes in forked children.

    Returns index -> ``("ok", result, errno)``, ``("trapped", 0, 0)`` or
    ``("died", signal, 0)``.
    """
    outcomes: dict[int, tuple[str, int, int]] = {}
    pending = list(batch)
    while pending:
        r, w = os.pipe2(os.O_CLOEXEC)
        sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        hold_gil = threading.current_thread() is threading.main_thread()
        pid = _fork() if hold_gil else os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                _child(pending, w, sig_r, sig_w, hold_gil)
                code = 0
            finally:
                os._exit(code)
        for fd in (w, sig_r, sig_w):
            os.close(fd)
        if pid < 0:
            os.close(r)
            raise OSError(ctypes.get_errno(), "fork failed")
        with os.fdopen(r, "rb") as pipe:
            lines = pipe.read().decode().splitlines()
        _, status = os.waitpid(pid, 0)
        begun = None
        before = len(outcomes)
        for line in lines:
            fields = line.split()
            if fields[0] == "b":
                begun = int(fields[1])
            else:
                index, result, err, trapped = (int(x) for x in fields[1:])
                outcomes[index] = ("trapped", 0, 0) if trapped else ("ok", result, err)
                begun = None
        if begun is not None:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            outcomes[begun] = ("died", sig, 0)
        if len(outcomes) == before:
            raise OSError(f"the probe child made no progress (wait status {status:#x})")
        pending = [item for item in pending if item[0] not in outcomes]
    return outcomes


def classify_isolated(names: Sequence[str]) -> list[Verdict]:
    """Classify *names* with every probe run in a child process (see module doc)."""
    verdicts: list[Verdict | None] = []
    batch: list[tuple[int, int, tuple[int, ...], bool]] = []
    calls: dict[int, Syscall] = {}
    for i, name in enumerate(names):
        sc = resolve(name)
        if isinstance(sc, Verdict):
            verdicts.append(sc)
            continue
        spec = PROBES.get(name)
        if spec is None:
            verdicts.append(unprobed(sc))
            continue
        known = cached(name, spec.args)
        verdicts.append(known)
        if known is None:
            calls[i] = sc
            batch.append((i, sc.number, spec.args, spec.returns_fd))
    if batch:
        mode = proc.seccomp_mode()
        for i, (kind, a, b) in run_in_child(batch).items():
            sc = calls[i]
            verdicts[i] = remember(sc.name, PROBES[sc.name].args, _death(sc, kind, a, b, mode))
    return [v for v in verdicts if v is not None]


def _death(sc: Syscall, kind: str, a: int, b: int, mode: int) -> Verdict:
    if kind == "ok":
        return probe_result(sc, PROBES[sc.name], a, b, mode)
    if kind == "trapped":
        return Verdict(sc.name, Status.TRAPPED, None,
                       "the probe raised SIGSYS in a child process: a filter's TRAP action",
                       sc.number, sc.since)
    if a == signal.SIGSYS:
        return Verdict(sc.name, Status.KILLED, None,
                       "the probe killed its child process with SIGSYS: a filter's KILL action",
                       sc.number, sc.since)
    how = f"died of signal {a}" if a else "exited"
    return Verdict(sc.name, Status.UNKNOWN, None,
                   f"the probe's child process {how} during the call", sc.number, sc.since)
