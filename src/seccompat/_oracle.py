"""The filter oracle: what the installed filters do to a call, without making it.

A forked child stacks one more filter that returns SECCOMP_RET_TRACE for exactly
the calls asked about (keyed on argument values too where the child could make the
same call itself; spare slots carry magic values), and the parent traces the child
with PTRACE_O_TRACESECCOMP.  The kernel runs every filter and keeps the most
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
what classifies calls that must never run.  A TRACE rule *without* a tracer tells
everything but that: the kernel answers TRACE with no tracer by ENOSYS without
running the call, so an older filter's ERRNO (other than ENOSYS), TRAP or KILL
shows as itself, and only ENOSYS is ambiguous (no filter, or a filter's ENOSYS).
So :func:`scan` asks every call first in a child with no tracer (no ptrace needed:
this works where a profile denies ptrace), and traces only the calls that answered
ENOSYS (all of them, the highest numbers until one passes, or none).  Limits: the
process must be allowed to install a filter (the child sets no_new_privs on itself
only), and to ptrace its own child to tell an ENOSYS apart; an older filter's
USER_NOTIF (ranked above TRACE) would hand the call to its supervisor (refused at
once), and an older TRACE rule is indistinguishable from ours; uretprobe and uprobe
bypass seccomp on x86_64, so no filter, ours included, ever sees them: they are never
sent.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import _forking as forking
from ._forking import ABORT, REPORT, Report, fork_script, run_script
from .bpf.compile import compile_filter
from .bpf.insn import BPF_K, BPF_RET, RET, stmt
from .bpf.ir import Action, ArchPolicy, ArgCmp, Filter, Op, Rule
from .bpf.load import FLAG_NEW_LISTENER, Prepared, no_new_privs_args
from .raw import nr, syscall
from .syscalls import kernel_version, native_arch

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

_NR_READ, _NR_PRCTL = nr("read"), nr("prctl")
_PR_SET_DUMPABLE = 4
_GO = ctypes.create_string_buffer(1)  # the child reads the tracer's go-ahead into it
_LISTENER_CHECK = Prepared((stmt(BPF_RET | BPF_K, RET.ALLOW),))  # allows all, with a listener

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
    return syscall(nr("ptrace"), request, pid, addr, data)


def filter_oracle(name: str, args: tuple[int, ...] = ()) -> OracleResult:
    """Ask the installed filters about syscall *name* with *args*, without running it."""
    if name in UNFILTERED.get(native_arch().name, ()):
        return OracleResult("unavailable", None, f"{name} bypasses seccomp on this ABI")
    return scan([(nr(name), args)])[0]


def scan(calls: Sequence[tuple[int, tuple[int, ...]]], *, pad: bool | Sequence[bool] = True,
         trace: str = "all") -> list[OracleResult]:
    """What the filters answer to each ``(number, args)``, none of them run.

    Each call is made with its arguments padded by :func:`oracle_args`, or with
    *pad* False (for all, or per call) exactly as given, zeros added to six values:
    a real call's registers.  First in a child with no tracer; then the calls that
    answered ENOSYS are traced (*trace* "all"), or the highest-numbered of them until
    one passes ("highest": what the ENOSYS-stub rule needs), or none ("none": they
    stay ``"enosys"``, a filter's ENOSYS or no filter).  Costs one child, one more
    per KILL answer, and the traced ones' stops.
    """
    padded = [pad] * len(calls) if isinstance(pad, bool) else list(pad)
    entries = [(number, oracle_args(tuple(args)) if p else (*args, *(0,) * (6 - len(args))))
               for (number, args), p in zip(calls, padded, strict=True)]
    rules: dict[int, list[Rule]] = {}
    own = None if forking.OWN_CALLS is None else {nr(n) for n in forking.OWN_CALLS}
    for (number, full), p in zip(entries, padded, strict=True):
        # The child says which step it is in, so a rule need only keep the child's
        # own calls out: where the child makes no other (the C child), a number it
        # never makes itself needs no argument test.  Otherwise padded calls are
        # told apart by their last two (magic) registers, real registers whole.
        keyed = () if own is not None and number not in own else \
            range(4, 6) if p else range(6)
        key = tuple(ArgCmp(i, Op.EQ, full[i] & 0xFFFFFFFFFFFFFFFF) for i in keyed)
        rule = Rule(Action.trace(_DATA), key)
        if rule not in rules.setdefault(number, []):
            rules[number].append(rule)
    native = native_arch()
    prepared = Prepared(compile_filter(Filter(
        (ArchPolicy(native, Action.allow(), {nr: tuple(r) for nr, r in rules.items()}),),
        bad_arch=Action.allow())))
    results: dict[int, OracleResult] = {}
    _until_done(lambda todo: _untraced(entries, todo, prepared, results),
                list(range(len(entries))), results)
    untold = [i for i, r in results.items() if r is _UNTOLD]
    if trace == "all":
        for i in untold:
            del results[i]
        _until_done(lambda todo: _run(entries, todo, prepared, results), untold, results)
    elif trace == "highest":
        untold.sort(key=lambda i: -entries[i][0])
        for start in range(0, len(untold), _BATCH):
            batch = untold[start:start + _BATCH]
            for i in batch:
                del results[i]
            _until_done(lambda todo: _run(entries, todo, prepared, results), batch, results)
            if any(results.get(i) is _PASSES for i in batch) or any(
                    results.get(i, _PASSES).kind == "unavailable" for i in batch):
                break  # the highest that passes is found, or tracing is refused here
    return [results.get(i, OracleResult("unavailable", None, "the tracer stopped early"))
            for i in range(len(entries))]


_BATCH = 8  # calls traced at a time while looking for the highest that passes
_UNTOLD = OracleResult("enosys", E.ENOSYS, "ENOSYS with no tracer: a filter's ENOSYS, or "
                                            "no filter answered (not traced)")


def _until_done(run: Callable[[list[int]], bool], todo: list[int],
                results: dict[int, OracleResult]) -> None:
    """Run children over *todo* until each has an answer (a KILL ends a child, the
    next carries on) or a child learns nothing."""
    while todo and run(todo):
        todo = [i for i in todo if i not in results]


def _setup(prepared: Prepared) -> tuple[list[tuple[int, ...]], list[str]]:
    """no_new_privs, the check for an outer listener, and the oracle's filter (last:
    it answers every call asked about, seccomp(2) among them); and what each is."""
    setup = [(ABORT, *no_new_privs_args())]
    what = ["nnp"]
    if kernel_version() >= (5, 0):
        # An outer filter with a listener (USER_NOTIF) ranks above our TRACE: its
        # supervisor would see, and might let run, the calls we only ask about.
        # seccomp(2) refuses a second listener in a filter chain with EBUSY.
        setup.append((ABORT, *_LISTENER_CHECK.args(FLAG_NEW_LISTENER)))
        what.append("listener")
    return [*setup, (ABORT, *prepared.args())], [*what, "filter"]


def _untraced(entries: list[tuple[int, tuple[int, ...]]], todo: list[int], prepared: Prepared,
              results: dict[int, OracleResult]) -> bool:
    """One child with no tracer over *todo* (see :func:`scan`); fills *results*."""
    before = len(results)
    setup, what = _setup(prepared)
    report, status = run_script([*setup, *((REPORT, entries[i][0], *entries[i][1])
                                           for i in todo)])
    index = [*(-1 for _ in setup), *todo]
    for step, (result, err, trapped) in report.ended.items():
        i = index[step]
        if i < 0:
            continue
        results[i] = _TRAPPED if trapped else _UNTOLD if err == E.ENOSYS else OracleResult(
            "errno", err, "an older filter's ERRNO ranks above TRACE") if err else \
            OracleResult("unavailable", None, f"the call ran ({result}): no filter saw it")
    if os.WIFSIGNALED(status) and report.begun is not None and index[report.begun] >= 0:
        results[index[report.begun]] = _death(os.WTERMSIG(status))
    if report.aborted is not None:
        _refused(report.aborted, what, todo, results)
    return len(results) > before


def _refused(aborted: tuple[int, int], what: list[str], todo: list[int],
             results: dict[int, OracleResult]) -> None:
    """Every call of *todo* unavailable, for why the child's setup step *what* failed."""
    step, err = aborted
    kind = what[step] if step < len(what) else "filter"
    if kind == "listener" and err == E.EBUSY:
        why = ("an outer filter hands calls to a seccomp supervisor (USER_NOTIF), "
               "which ranks above the oracle's TRACE rule: the oracle cannot see "
               "through it")
    elif kind in ("dumpable", "go"):
        why = f"cannot make the oracle's child traceable: {os.strerror(err)}"
    else:
        why = f"cannot install a filter: {os.strerror(err)}"
    for i in todo:
        results.setdefault(i, OracleResult("unavailable", None, why))


def _run(entries: list[tuple[int, tuple[int, ...]]], todo: list[int], prepared: Prepared,
         results: dict[int, OracleResult]) -> bool:
    """One traced child over *todo*; fills *results*; False if nothing could be learnt."""
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    # The child makes itself dumpable first (a process that changed its uid is not,
    # and ptrace(2) refuses non-dumpable tracees), says so, and waits for the tracer.
    setup, what = _setup(prepared)
    setup = [(REPORT | ABORT, _NR_PRCTL, _PR_SET_DUMPABLE, 1, 0, 0, 0),
             (ABORT, _NR_READ, go_r, ctypes.addressof(_GO), 1), *setup]
    what = ["dumpable", "go", *what]
    steps = [*setup, *((REPORT, entries[i][0], *entries[i][1]) for i in todo)]
    try:
        pid = fork_script(steps, out_w)
    except BaseException:
        for fd in (go_r, go_w, out_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
    os.close(go_r)
    report = Report()
    try:
        while 0 not in report.ended and report.aborted is None and (chunk := os.read(out_r, 64)):
            report.feed(chunk)
        os.set_blocking(out_r, False)  # the tracer reads what is there at each stop
        err = E.ESRCH if report.aborted else _ptrace(
            _PTRACE_SEIZE, pid, 0, _PTRACE_O_TRACESECCOMP | _PTRACE_O_EXITKILL)[1]
        if err:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if report.aborted is None:
                for i in todo:
                    results[i] = OracleResult("unavailable", None,
                                              f"ptrace: {os.strerror(err)}")
                return False
            learnt = False
        else:
            os.write(go_w, b"g")
            learnt = _trace(pid, out_r, report, [*(-1 for _ in setup), *todo], results)
    finally:
        os.close(go_w)
        os.close(out_r)
    if report.aborted is not None:
        _refused(report.aborted, what, todo, results)
    return learnt


def _trace(pid: int, out: int, report: Report, index: list[int],
           results: dict[int, OracleResult]) -> bool:
    """Follow the traced child until it ends; record what each call met.  *index*
    maps the child's step numbers to entries (-1: a setup step)."""
    before = len(results)

    def current() -> int | None:
        return None if report.begun is None else index[report.begun]

    while True:
        _, status = os.waitpid(pid, 0)
        report.read_all(out)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
        event, sig = status >> 16, os.WSTOPSIG(status)
        now = current()
        if event == _PTRACE_EVENT_SECCOMP:
            msg = ctypes.c_ulong(0)
            _ptrace(_PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(msg))
            if msg.value == _DATA and now is not None:
                results[now] = _PASSES
                if not _skip(pid):
                    os.kill(pid, signal.SIGKILL)  # never runs: SIGKILL ends a stopped tracee
                    continue
            # Another filter's TRACE rule: continue; the kernel re-checks the call.
            sig = 0
        elif sig == signal.SIGSYS and now is not None:
            results[now] = _TRAPPED
            sig = 0  # suppress it: the trapped call did not run
        elif event:
            sig = 0
        # Any other signal is delivered: SIGALRM, the child's deadline, ends it.
        _ptrace(_PTRACE_CONT, pid, 0, sig)
    report.read_all(out)
    for step, (_, err, _trapped) in report.ended.items():
        i = index[step]
        if i >= 0 and i not in results:
            results[i] = OracleResult("errno", err, "an older filter's ERRNO ranks above TRACE") \
                if err else OracleResult("unavailable", None, "the call ran: no filter saw it")
    now = current()
    if os.WIFSIGNALED(status) and now is not None and now not in results:
        results[now] = _death(os.WTERMSIG(status))
    return len(results) > before


def _death(sig: int) -> OracleResult:
    """What a child's death by *sig* during a call says: SIGSYS is an older KILL;
    SIGALRM, the child's deadline, a call held; anything else, nothing."""
    if sig == signal.SIGSYS:
        return _KILLED
    return OracleResult("unavailable", None,
                        f"the call did not return within {forking.CHILD_TIMEOUT} s"
                        if sig == signal.SIGALRM else f"the child died of signal {sig}")


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
