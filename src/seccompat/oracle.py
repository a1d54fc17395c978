"""The filter oracle: what the installed filters do to a call, without making it.

A forked child stacks one more filter that returns SECCOMP_RET_TRACE for exactly
the calls asked about (their numbers and all six argument values; spare slots
carry magic values, so that a later unrelated call whose unused registers still
hold them cannot match), and the parent traces the child with
PTRACE_O_TRACESECCOMP.  The kernel runs every filter and keeps the most
restrictive action:

* a PTRACE_EVENT_SECCOMP stop: no older filter answered with ERRNO, TRAP or KILL
  (all rank above TRACE): the call "passes" the filters.  The tracer then makes
  the kernel skip the call (syscall number -1: x86_64's orig_rax, aarch64's
  NT_ARM_SYSTEM_CALL), or, on other ABIs, kills the child in the stop; either way
  it never runs;
* the call returns an errno: an older filter's ERRNO, whatever its value (ENOSYS
  included);
* a SIGSYS signal-delivery stop: an older TRAP (the signal is suppressed, and the
  trapped call did not run); death by SIGSYS: an older KILL.  A new child carries
  on with the remaining calls.

This is what tells a filter's ERRNO(ENOSYS) from a kernel that lacks the call, and
what classifies calls that must never run.  A TRACE rule *without* a tracer could
not: the kernel answers ENOSYS for TRACE with no tracer, exactly like
ERRNO(ENOSYS).  Limits: the process must be allowed to ptrace its own child and to
install a filter (the child sets no_new_privs on itself only); an older filter's
USER_NOTIF (ranked above TRACE) would hand the call to its supervisor, and an older
TRACE rule is indistinguishable from ours; uretprobe and uprobe bypass seccomp on
x86_64, so no filter, ours included, ever sees them: they are never sent.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from .bpf.compile import compile_filter
from .bpf.ir import Action, ArchPolicy, ArgCmp, Filter, Op, Rule
from .bpf.load import Prepared, no_new_privs_args
from .forking import fork, gil
from .raw import syscall
from .syscalls import lookup, native_arch

__all__ = ["UNFILTERED", "OracleResult", "filter_oracle", "oracle_args", "scan"]

_PTRACE_CONT = 7
_PTRACE_POKEUSER = 6
_PTRACE_GETEVENTMSG = 0x4201
_PTRACE_SETREGSET = 0x4205
_PTRACE_SEIZE = 0x4206
_PTRACE_O_TRACESECCOMP = 0x80
_PTRACE_O_EXITKILL = 0x100000
_PTRACE_EVENT_SECCOMP = 7
_NT_ARM_SYSTEM_CALL = 0x404
_ORIG_RAX = 15 * 8  # offsetof(struct user_regs_struct, orig_rax)
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


_PASSES = OracleResult("passes", None, "no filter answers the call (our TRACE rule was reached)")
_TRAPPED = OracleResult("trapped", None, "an older filter's TRAP ranks above TRACE")
_KILLED = OracleResult("killed", None, "an older filter's KILL ranks above TRACE")


def oracle_args(args: tuple[int, ...]) -> tuple[int, ...]:
    """The probe's arguments padded to six with the magic value."""
    return tuple(args) + tuple(_MAGIC + i for i in range(len(args), 6))


def _ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> tuple[int, int]:
    return syscall(lookup("ptrace").number, request, pid, addr, data)


def filter_oracle(name: str, args: tuple[int, ...] = ()) -> OracleResult:
    """Ask the installed filters about syscall *name* with *args*, without running it."""
    if name in UNFILTERED.get(native_arch().name, ()):
        return OracleResult("unavailable", None, f"{name} bypasses seccomp on this ABI")
    return scan([(lookup(name).number, args)])[0]


def scan(calls: Sequence[tuple[int, tuple[int, ...]]]) -> list[OracleResult]:
    """What the filters answer to each ``(number, args)``, none of them run.

    Each call is made with its arguments padded by :func:`oracle_args`.  Costs one
    traced child, plus one per KILL answer (and per passing call on ABIs where the
    tracer cannot skip a syscall).
    """
    entries = [(nr, oracle_args(tuple(args))) for nr, args in calls]
    rules: dict[int, list[Rule]] = {}
    for nr, full in entries:
        key = tuple(ArgCmp(i, Op.EQ, v & 0xFFFFFFFFFFFFFFFF) for i, v in enumerate(full))
        rule = Rule(Action.trace(_DATA), key)
        if rule not in rules.setdefault(nr, []):
            rules[nr].append(rule)
    native = native_arch()
    prepared = Prepared(compile_filter(Filter(
        (ArchPolicy(native, Action.allow(), {nr: tuple(r) for nr, r in rules.items()}),),
        bad_arch=Action.allow())))
    results: dict[int, OracleResult] = {}
    pending = list(range(len(entries)))
    while pending:
        done = _run(entries, pending, prepared, results)
        if not done:
            break
        pending = [i for i in pending if i not in results]
    return [results.get(i, OracleResult("unavailable", None, "the tracer stopped early"))
            for i in range(len(entries))]


def _run(entries: list[tuple[int, tuple[int, ...]]], todo: list[int], prepared: Prepared,
         results: dict[int, OracleResult]) -> bool:
    """One traced child over *todo*; fills *results*; False if nothing could be learnt."""
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(out_r, False)  # the tracer reads what is there at each stop
    pid, _ = fork()
    if pid == 0:  # pragma: no cover - child: raw calls only, GIL held throughout
        code = 1
        try:
            gil.read(go_r, 1)
            for call in (no_new_privs_args(), prepared.args()):
                _, err = gil.syscall(*call)
                if err:
                    gil.write(out_w, f"setup {err}\n".encode())
                    break
            else:
                for i in todo:
                    gil.write(out_w, f"b {i}\n".encode())
                    nr, full = entries[i]
                    _, err = gil.syscall(nr, *full)
                    gil.write(out_w, f"e {i} {err}\n".encode())
                code = 0
        finally:
            os._exit(code)
    os.close(go_r)
    os.close(out_w)
    reader = _Lines(out_r)
    try:
        _, err = _ptrace(_PTRACE_SEIZE, pid, 0, _PTRACE_O_TRACESECCOMP | _PTRACE_O_EXITKILL)
        if err:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            for i in todo:
                results[i] = OracleResult("unavailable", None, f"ptrace: {os.strerror(err)}")
            return False
        os.write(go_w, b"g")
        learnt = _trace(pid, reader, results)
    finally:
        os.close(go_w)
        reader.close()
    if reader.setup_error is not None:
        why = f"cannot install a filter: {os.strerror(reader.setup_error)}"
        for i in todo:
            results.setdefault(i, OracleResult("unavailable", None, why))
    return learnt


class _Lines:
    """The child's report: "b i" before call i, "e i errno" after it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.current: int | None = None
        self.ended: dict[int, int] = {}
        self.setup_error: int | None = None
        self._partial = b""

    def drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            data = self._partial + chunk
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                fields = line.decode().split()
                if fields[0] == "b":
                    self.current = int(fields[1])
                elif fields[0] == "e":
                    self.ended[int(fields[1])] = int(fields[2])
                    self.current = None
                else:
                    self.setup_error = int(fields[1])

    def close(self) -> None:
        os.close(self.fd)


def _trace(pid: int, lines: _Lines, results: dict[int, OracleResult]) -> bool:
    """Follow the traced child until it ends; record what each call met."""
    before = len(results)
    while True:
        _, status = os.waitpid(pid, 0)
        lines.drain()
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
        event, sig = status >> 16, os.WSTOPSIG(status)
        current = lines.current
        if event == _PTRACE_EVENT_SECCOMP:
            msg = ctypes.c_ulong(0)
            _ptrace(_PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(msg))
            if msg.value == _DATA and current is not None:
                results[current] = _PASSES
                if not _skip(pid):
                    os.kill(pid, signal.SIGKILL)  # never runs: SIGKILL ends a stopped tracee
                    continue
            # Another filter's TRACE rule: continue; the kernel re-checks the call.
            sig = 0
        elif sig == signal.SIGSYS and current is not None:
            results[current] = _TRAPPED
            sig = 0  # suppress it: the trapped call did not run
        elif event:
            sig = 0
        _ptrace(_PTRACE_CONT, pid, 0, sig)
    lines.drain()
    for i, err in lines.ended.items():
        if i not in results:
            results[i] = OracleResult("errno", err, "an older filter's ERRNO ranks above TRACE") \
                if err else OracleResult("unavailable", None, "the call ran: no filter saw it")
    if os.WIFSIGNALED(status) and lines.current is not None and lines.current not in results:
        results[lines.current] = _KILLED if os.WTERMSIG(status) == signal.SIGSYS else \
            OracleResult("unavailable", None, f"the child died of signal {os.WTERMSIG(status)}")
    return len(results) > before


def _skip(pid: int) -> bool:
    """Make the kernel skip the stopped call (syscall number -1); False if this ABI
    offers no way here."""
    name = native_arch().name
    if name == "x86_64":
        return _ptrace(_PTRACE_POKEUSER, pid, _ORIG_RAX, -1)[1] == 0
    if name == "aarch64":
        value = ctypes.c_int(-1)
        iov = (ctypes.c_void_p * 2)(ctypes.addressof(value), ctypes.sizeof(value))
        return _ptrace(_PTRACE_SETREGSET, pid, _NT_ARM_SYSTEM_CALL,
                       ctypes.addressof(iov))[1] == 0
    return False
