"""Classify a syscall: available, not implemented, filtered, killed, trapped, gated.

The decision after an EPERM (``eperm_is_filtered``), in the order it is made:

1. A cached verdict for the same call and probe arguments: filters can be added
   to a thread but never removed, and a kernel never grows a syscall, so
   "filtered" and "not implemented" stay true for the thread that saw them.
   "available" and "genuine" are never cached.
2. ``Seccomp: 0`` in /proc/thread-self/status: no filter exists, so the EPERM is
   the kernel's own.  Never filtered.
3. The probe, with the real call's flags where the syscall has a transparent
   shape: EPERM again means a filter answered, unless a known gate explains it
   (then it is *gated*, not a signal to fall back); ENOSYS means not implemented;
   any other answer proves the kernel validated the arguments, so the first EPERM
   was genuine.  No exact errno is expected: check order varies by version.

The cache lives in a ``threading.local``: seccomp filters belong to threads, a new
thread inherits its creator's filters, and a forked child inherits the forking
thread's, so the cache stays truthful in both without locks.  The same holds for
the one other fact kept there: that this thread runs under a filter.
"""

from __future__ import annotations

import enum
import errno as E
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from . import _proc as proc
from ._probes import NEVER_PROBE, PROBES, ProbeSpec
from .raw import errno_name, syscall
from .syscalls import Syscall, kernel_version, known, lookup, native_arch

__all__ = [
    "Status",
    "Verdict",
    "cached",
    "classify",
    "falls_back",
    "clear_cache",
    "eperm_is_filtered",
    "probe_result",
    "remember",
    "resolve",
    "unprobed",
]


class Status(str, enum.Enum):
    """What a process gets when it makes a syscall."""

    AVAILABLE = "available"
    NOT_IMPLEMENTED = "not_implemented"
    FILTERED = "filtered"
    KILLED = "killed"
    TRAPPED = "trapped"
    GATED = "gated"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Verdict:
    """A classification with its evidence: one sentence saying how we know."""

    name: str
    status: Status
    errno: int | None
    evidence: str
    number: int | None = None
    since: tuple[int, int] | None = None

    @property
    def errno_name(self) -> str | None:
        """``"EPERM"`` for errno 1, None when there is no errno."""
        return None if self.errno is None else errno_name(self.errno)


# Answers that prove the kernel itself looked at the probe's arguments.
_KERNEL_ANSWERS = frozenset({0, E.EINVAL, E.EBADF, E.EFAULT, E.ESRCH, E.E2BIG, E.EOPNOTSUPP,
                             E.ENOENT, E.ENOTDIR, E.ENOSPC, E.ENXIO, E.ENOMEM, E.EAGAIN})
_MONOTONIC = (Status.FILTERED, Status.NOT_IMPLEMENTED, Status.KILLED, Status.TRAPPED)

_local = threading.local()


def _cache() -> dict[tuple[str, tuple[int, ...]], Verdict]:
    try:
        return _local.verdicts  # type: ignore[no-any-return]
    except AttributeError:
        _local.verdicts = {}
        return _local.verdicts  # type: ignore[no-any-return]


def clear_cache() -> None:
    """Forget this thread's cached verdicts and seccomp mode (tests and benchmarks)."""
    _cache().clear()
    _local.filter_seen = False


def _seccomp_mode() -> int:
    """This thread's seccomp mode; once a filter is seen it is remembered, because a
    thread's filters can never be removed (reading /proc costs ~8 us, a flag nothing)."""
    if getattr(_local, "filter_seen", False):
        return 2
    mode = proc.seccomp_mode()
    if mode == 2:
        _local.filter_seen = True
    return mode


def cached(name: str, probe_args: tuple[int, ...]) -> Verdict | None:
    """This thread's cached verdict for *name* probed with *probe_args*, if any."""
    return _cache().get((name, probe_args))


def remember(name: str, probe_args: tuple[int, ...], verdict: Verdict) -> Verdict:
    """Cache *verdict* if it can never change for this thread; return it."""
    if verdict.status in _MONOTONIC:
        _cache()[(name, probe_args)] = verdict
    return verdict


def _version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def probe_result(sc: Syscall, spec: ProbeSpec, result: int, err: int,
                 seccomp_mode: int) -> Verdict:
    """Interpret one probe's ``(result, errno)`` for a thread in *seccomp_mode*."""
    kv = kernel_version()

    def v(status: Status, errno: int | None, evidence: str) -> Verdict:
        return Verdict(sc.name, status, errno, evidence, sc.number, sc.since)

    if err == 0 or (err in _KERNEL_ANSWERS and err not in (E.EPERM, E.ENOSYS)):
        answer = f"returned {result}" if err == 0 else f"failed with {errno_name(err)}"
        return v(Status.AVAILABLE, None, f"the probe {answer}: the kernel checked its arguments")
    if err == E.ENOSYS:
        if kv < sc.since:
            return v(Status.NOT_IMPLEMENTED, err,
                     f"ENOSYS; kernel {_version(kv)} predates {sc.name} ({_version(sc.since)})")
        if seccomp_mode == 0:
            note = f" ({spec.notes[0]})" if spec.notes else ""
            return v(Status.NOT_IMPLEMENTED, err,
                     f"ENOSYS with no filter active although kernel {_version(kv)} >= "
                     f"{_version(sc.since)}: compiled out or disabled{note}")
        return v(Status.NOT_IMPLEMENTED, err,
                 f"ENOSYS although kernel {_version(kv)} >= {_version(sc.since)} and a filter is "
                 "active: likely the filter returns ENOSYS (isolated mode asks the filter oracle)")
    if err == E.EPERM:
        gate = spec.closed_gate()
        if gate is not None and gate.certain:
            return v(Status.GATED, err, f"EPERM explained by a kernel gate: {gate.reason}")
        if gate is not None:
            return v(Status.UNKNOWN, err, f"EPERM, which a kernel gate may explain "
                     f"({gate.reason}): it cannot be told from a filter's")
        if seccomp_mode == 0:
            return v(Status.GATED, err,
                     "EPERM with no seccomp filter active: a kernel permission check runs "
                     "before argument validation")
        return v(Status.FILTERED, err,
                 "the probe, which the kernel must reject otherwise, also got EPERM "
                 "while a filter is active")
    if seccomp_mode == 0:
        return v(Status.AVAILABLE, None,
                 f"the probe failed with {errno_name(err)} and no filter is active")
    return v(Status.FILTERED, err,
             f"the probe got {errno_name(err)}, which the kernel does not answer to these "
             "arguments, while a filter is active")


def resolve(name: str) -> Syscall | Verdict:
    """The native syscall, or a verdict for a name that exists only on other ABIs."""
    try:
        return lookup(name)
    except LookupError:
        if not known(name):
            raise
    return Verdict(name, Status.NOT_IMPLEMENTED, E.ENOSYS,
                   f"{name} is not part of the {native_arch().name} syscall ABI")


def classify(name: str) -> Verdict:
    """Classify syscall *name* for the calling thread, with its evidence, probing in
    this thread (``seccompat.classify(name, isolate=True)`` probes in a child).
    Raises ``LookupError`` for a name the table does not know.
    """
    sc = resolve(name)
    if isinstance(sc, Verdict):
        return sc
    spec = PROBES.get(name)
    if spec is None:
        return unprobed(sc)
    known = cached(name, spec.args)
    if known is not None:
        return known
    return _probe(sc, spec, spec.args, _seccomp_mode())


def _probe(sc: Syscall, spec: ProbeSpec, args: tuple[int, ...], mode: int) -> Verdict:
    """Run one probe in this thread, interpret it, and cache what cannot change."""
    result, err = syscall(sc.number, *args)
    if err == 0 and spec.returns_fd and result >= 0:
        try:
            os.close(result)  # defence in depth: no probe should ever succeed with an fd
        except OSError:
            pass
    return remember(sc.name, args, probe_result(sc, spec, result, err, mode))


def unprobed(sc: Syscall) -> Verdict:
    """The verdict for a call with no safe probe: what the table and kernel say."""
    kv = kernel_version()
    reason = NEVER_PROBE.get(sc.name, "no side-effect-free probe is known")
    if kv < sc.since:
        return Verdict(sc.name, Status.NOT_IMPLEMENTED, E.ENOSYS,
                       f"kernel {_version(kv)} predates {sc.name} ({_version(sc.since)}); "
                       f"never invoked: {reason}", sc.number, sc.since)
    return Verdict(sc.name, Status.UNKNOWN, None, f"never invoked: {reason}",
                   sc.number, sc.since)


def eperm_is_filtered(name: str, args: Sequence[int] | None = None) -> bool:
    """After syscall *name* failed with EPERM: did a seccomp filter answer?

    True means "treat it as ENOSYS and fall back" (filtered, or not implemented).
    False means the EPERM is genuine or comes from a kernel gate: report it.
    *args* are the real call's register arguments; for syscalls with a known
    shape the probe keeps their flags so argument-keyed rules see the same values.
    Raises ``LookupError`` for an unknown name and ``ValueError`` for a syscall
    without a safe probe.
    """
    spec = PROBES.get(name)
    if spec is None:
        lookup(name)
        raise ValueError(f"{name} has no side-effect-free probe; cannot tell its EPERM apart")
    probe_args = spec.probe_args(args)
    known = cached(name, probe_args)
    if known is not None:
        return falls_back(known)
    mode = _seccomp_mode()
    if mode == 0:
        return False
    return falls_back(_probe(lookup(name), spec, probe_args, mode))


def falls_back(verdict: Verdict) -> bool:
    """Whether *verdict* sends a wrapper to its fallback: not implemented, or a
    filter's EPERM.  (A probe that got EACCES, say, while the real call got EPERM
    is an argument-keyed rule we cannot see through: not proof, so no.)"""
    return verdict.status is Status.NOT_IMPLEMENTED or (
        verdict.status is Status.FILTERED and verdict.errno == E.EPERM)
