"""The filter oracle: what the installed filters do to a call, without making it.

A forked child stacks one more filter that returns SECCOMP_RET_TRACE for exactly
the probed call (its number and all six argument values, with a magic value in
the spare slots), and the parent traces the child with PTRACE_O_TRACESECCOMP.
The kernel runs every filter and keeps the most restrictive action:

* the parent sees a PTRACE_EVENT_SECCOMP stop carrying our data: no older filter
  answered with ERRNO, TRAP or KILL (all rank above TRACE).  The child is killed in
  that stop, so the call never runs;
* the call returns an errno: an older filter's ERRNO, whatever its value, ENOSYS
  included;
* the child gets SIGSYS: an older TRAP (a signal-delivery stop) or KILL (death).

This is what tells a filter's ERRNO(ENOSYS) from a kernel that lacks the call, and
what classifies calls that must never run.  A TRACE oracle *without* a tracer
could not: the kernel answers ENOSYS for TRACE with no tracer, exactly like
ERRNO(ENOSYS).  Limits: the process must be allowed to ptrace its child and to
install a filter (the child sets no_new_privs on itself only); an older filter's
USER_NOTIF (ranked above TRACE) would hand the call to its supervisor, and an
older TRACE rule is indistinguishable from ours; uretprobe and uprobe bypass
seccomp on x86_64, so no filter, ours included, ever sees them.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass

from .bpf.compile import compile_filter
from .bpf.ir import Action, ArgCmp, Filter, Op, Rule
from .bpf.load import Prepared, no_new_privs_args
from .forking import fork, gil
from .raw import syscall
from .syscalls import lookup, native_arch

__all__ = ["OracleResult", "filter_oracle", "oracle_args"]

_PTRACE_CONT = 7
_PTRACE_GETEVENTMSG = 0x4201
_PTRACE_SEIZE = 0x4206
_PTRACE_O_TRACESECCOMP = 0x80
_PTRACE_O_EXITKILL = 0x100000
_PTRACE_EVENT_SECCOMP = 7
_DATA = 0x5EC  # our SECCOMP_RET_TRACE data, read back with PTRACE_GETEVENTMSG
_MAGIC = 0x5EC0_0A4C_1E00_0000  # fills unused argument slots; both halves matter

#: Calls the kernel never shows to seccomp, per ABI (kernel/seccomp.c).
UNFILTERED = {"x86_64": frozenset({"uretprobe", "uprobe"})}


@dataclass(frozen=True)
class OracleResult:
    """``kind``: "passes" (no filter action above TRACE), "errno", "trapped",
    "killed", or "unavailable" (``detail`` says why)."""

    kind: str
    errno: int | None = None
    detail: str = ""


def oracle_args(args: tuple[int, ...]) -> tuple[int, ...]:
    """The probe's arguments padded to six with the magic value."""
    return tuple(args) + tuple(_MAGIC + i for i in range(len(args), 6))


def _ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> tuple[int, int]:
    return syscall(lookup("ptrace").number, request, pid, addr, data)


def filter_oracle(name: str, args: tuple[int, ...] = ()) -> OracleResult:
    """Ask the installed filters about syscall *name* with *args*, without running it."""
    sc = lookup(name)
    if name in UNFILTERED.get(native_arch().name, ()):
        return OracleResult("unavailable", None, f"{name} bypasses seccomp on this ABI")
    full = oracle_args(args)
    key = tuple(ArgCmp(i, Op.EQ, v & 0xFFFFFFFFFFFFFFFF) for i, v in enumerate(full))
    prepared = Prepared(compile_filter(Filter.simple(
        Action.allow(), {name: [Rule(Action.trace(_DATA), key)]})))
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    pid, _ = fork()
    if pid == 0:  # pragma: no cover - child: raw calls only, GIL held throughout
        code = 1
        try:
            gil.read(go_r, 1)
            for call in (no_new_privs_args(), prepared.args()):
                _, err = gil.syscall(*call)
                if err:
                    gil.write(out_w, f"setup {err}".encode())
                    break
            else:
                _, err = gil.syscall(sc.number, *full)
                gil.write(out_w, str(err).encode())
                code = 0
        finally:
            os._exit(code)
    for fd in (go_r, out_w):
        os.close(fd)
    try:
        _, err = _ptrace(_PTRACE_SEIZE, pid, 0, _PTRACE_O_TRACESECCOMP | _PTRACE_O_EXITKILL)
        if err:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return OracleResult("unavailable", None, f"ptrace: {os.strerror(err)}")
        os.write(go_w, b"g")
        result = _watch(pid)
    finally:
        os.close(go_w)
    with os.fdopen(out_r, "rb") as pipe:
        report = pipe.read().decode()
    if result is not None:
        return result
    if report.startswith("setup"):
        err = int(report.split()[1])
        return OracleResult("unavailable", None, f"cannot install a filter: {os.strerror(err)}")
    value = int(report) if report else 0
    if value == 0:
        return OracleResult("unavailable", None, "the call ran: our filter did not see it")
    return OracleResult("errno", value, "an older filter's ERRNO ranks above TRACE")


def _watch(pid: int) -> OracleResult | None:
    """Follow the traced child; None when it exited normally (read its report)."""
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            return None
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) == signal.SIGSYS:
                return OracleResult("killed", None, "an older filter's KILL ranks above TRACE")
            return OracleResult("unavailable", None,
                                f"the child died of signal {os.WTERMSIG(status)}")
        event = status >> 16
        sig = os.WSTOPSIG(status)
        if event == _PTRACE_EVENT_SECCOMP:
            msg = ctypes.c_ulong(0)
            _ptrace(_PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(msg))
            _finish(pid)
            if msg.value == _DATA:
                return OracleResult("passes", None,
                                    "our TRACE rule was reached: no filter answers the call")
            return OracleResult("unavailable", None, "another filter's TRACE rule answered")
        if sig == signal.SIGSYS:
            _finish(pid)
            return OracleResult("trapped", None, "an older filter's TRAP ranks above TRACE")
        _ptrace(_PTRACE_CONT, pid, 0, sig)


def _finish(pid: int) -> None:
    """Kill a stopped tracee (the call never runs: SIGKILL ends it even in a
    ptrace stop) and reap it."""
    os.kill(pid, signal.SIGKILL)
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            return
