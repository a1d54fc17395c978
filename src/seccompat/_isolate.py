"""Probe in a child process, so a KILL or TRAP action cannot take the caller down.

The child is a fork of the calling thread, so it carries exactly the caller's
seccomp filters.  It runs a batch of probes as a :func:`seccompat._forking.fork_script`
(raw syscalls, reported on a pipe before and after each call; with the C
accelerator the child never runs Python, which after a fork in a threaded program
could deadlock on the interpreter's locks).  A probe that kills the child
(SECCOMP_RET_KILL_*, or an uncatchable signal) is the last one begun; the parent
records it and starts a new child for the rest, so a batch costs one fork plus one
per death.  A TRAP delivers a catchable SIGSYS, which the child notes.  A child
that does not finish within ``CHILD_TIMEOUT`` seconds (a call held by an outer
seccomp supervisor, say) ends itself with SIGALRM, and its probe is reported as
such.
"""

from __future__ import annotations

import errno as E
import os
import signal
from collections.abc import Sequence

from . import _forking as forking
from . import _proc as proc
from ._classifier import Status, Verdict, cached, probe_result, remember, resolve, unprobed
from ._classifier import classify as classify_here
from ._forking import CLOSE, REPORT, run_script
from ._oracle import filter_oracle
from ._probes import PROBES
from .errors import ChildFailed
from .raw import errno_name
from .syscalls import Syscall, kernel_version, lookup

__all__ = ["classify", "classify_isolated", "run_in_child"]


def run_in_child(batch: list[tuple[int, int, tuple[int, ...], bool]]) -> dict[
        int, tuple[str, int, int]]:
    """Run ``(index, nr, args, returns_fd)`` probes in forked children.

    Returns index -> ``("ok", result, errno)``, ``("trapped", 0, 0)`` or
    ``("died", signal, 0)`` (SIGALRM: the child's deadline passed).
    """
    outcomes: dict[int, tuple[str, int, int]] = {}
    pending = list(batch)
    while pending:
        steps = [(REPORT | (CLOSE if returns_fd else 0), nr, *args)
                 for _, nr, args, returns_fd in pending]
        report, status = run_script(steps)
        before = len(outcomes)
        for step, (result, err, trapped) in report.ended.items():
            outcomes[pending[step][0]] = ("trapped", 0, 0) if trapped else ("ok", result, err)
        if report.begun is not None:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            outcomes[pending[report.begun][0]] = ("died", sig, 0)
        if len(outcomes) == before:
            raise ChildFailed(f"the probe child made no progress (wait status "
                          f"{status:#x})")
        pending = [item for item in pending if item[0] not in outcomes]
    return outcomes


def classify(name: str, *, isolate: bool = False) -> Verdict:
    """Classify syscall *name* for the calling thread, with its evidence.

    ``isolate=True`` runs the probe in a child process so that a KILL or TRAP
    action cannot take the caller down (and asks the filter oracle where a probe
    cannot tell); otherwise the probe runs in this thread.  Raises
    ``LookupError`` for a name the table does not know.
    """
    return classify_isolated([name])[0] if isolate else classify_here(name)


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
    mode = proc.seccomp_mode()
    if batch:
        for i, (kind, a, b) in run_in_child(batch).items():
            sc = calls[i]
            verdicts[i] = remember(sc.name, PROBES[sc.name].args, _death(sc, kind, a, b, mode))
    if mode != 0:
        verdicts = [_refine(v) if v is not None else None for v in verdicts]
    return [v for v in verdicts if v is not None]


def _refine(verdict: Verdict) -> Verdict:
    """Ask the filter oracle where the probe cannot tell: an ENOSYS on a kernel that
    should have the call, and calls that are never invoked."""
    if verdict.number is None or verdict.since is None:
        return verdict  # not on this ABI
    spec = PROBES.get(verdict.name)
    ambiguous = (verdict.status is Status.NOT_IMPLEMENTED and verdict.errno == E.ENOSYS
                 and kernel_version() >= verdict.since)
    if not (spec is None or ambiguous):
        return verdict
    args = spec.args if spec is not None else ()
    answer = filter_oracle(verdict.name, args)
    sc = lookup(verdict.name)

    def new(status: Status, err: int | None, evidence: str) -> Verdict:
        return remember(verdict.name, args,
                        Verdict(sc.name, status, err, evidence, sc.number, sc.since))

    never = " (never invoked)" if spec is None else ""
    if answer.kind == "errno" and answer.errno is not None:
        return new(Status.FILTERED, answer.errno,
                   f"the filter oracle shows a filter answers {errno_name(answer.errno)}{never}")
    if answer.kind == "killed":
        return new(Status.KILLED, None, f"the filter oracle shows a KILL rule{never}")
    if answer.kind == "trapped":
        return new(Status.TRAPPED, None, f"the filter oracle shows a TRAP rule{never}")
    if answer.kind == "passes" and ambiguous:
        return new(Status.NOT_IMPLEMENTED, E.ENOSYS,
                   "ENOSYS from the kernel itself: the filter oracle shows no filter answers it")
    if answer.kind == "passes":
        return Verdict(sc.name, verdict.status, verdict.errno,
                       f"{verdict.evidence}; the filter oracle shows no filter answers it",
                       sc.number, sc.since)
    return Verdict(sc.name, verdict.status, verdict.errno,
                   f"{verdict.evidence} (filter oracle unavailable: {answer.detail})",
                   sc.number, sc.since)


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
    if a == signal.SIGALRM:
        return Verdict(sc.name, Status.UNKNOWN, None,
                       f"the probe did not return within {forking.CHILD_TIMEOUT} s in its child "
                       "process (an outer seccomp supervisor may hold the call)",
                       sc.number, sc.since)
    how = f"died of signal {a}" if a else "exited"
    return Verdict(sc.name, Status.UNKNOWN, None,
                   f"the probe's child process {how} during the call", sc.number, sc.since)
