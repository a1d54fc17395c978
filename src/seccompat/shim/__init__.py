"""The ENOSYS shim: make an outer filter's EPERM for new syscalls look like ENOSYS.

An EPERM-default container profile answers EPERM for every syscall it did not know,
and glibc and language runtimes fall back to older calls only on ENOSYS: clone3
(threads, posix_spawn with glibc >= 2.34), faccessat2 (``os.access(...,
effective_ids=True)``), close_range, openat2 ...  The kernel runs every stacked
filter and keeps the most restrictive action; between equal actions the data of
the most recently installed filter wins.  So a process that may install a filter
(no_new_privs, which it can set on itself, or CAP_SYS_ADMIN) can stack one that
answers ERRNO(ENOSYS) for exactly the calls the outer filter refuses with EPERM.
Nothing is loosened (the calls still fail, and calls the outer filter allows stay
allowed: ALLOW is the least restrictive action), but callers now take their
ENOSYS fallbacks.

Which calls (``plan``): one the outer filters answer with an errno other than
ENOSYS, that the running kernel implements, and that either is numbered above the
highest call the filters allow on this ABI (runc's ENOSYS-stub rule, derived from
inside) or has a well-known ENOSYS fallback (``FALLBACKS``).  Everything else the
profile denies on purpose (mount, kexec_load, ptrace ...) keeps its errno.  The
filters' answers come from child processes (nothing is asked in-process, so a KILL
rule cannot take the caller down), by the filter oracle (:mod:`seccompat._oracle`):
a stacked TRACE rule, with no tracer, answers every number exactly, nothing run,
except that ENOSYS is ambiguous (no filter, or a filter's ENOSYS); that needs no
ptrace.  Only the highest allowed number (the runc-stub rule) needs a tracer, and
only a few calls are traced to find it; where ptrace(2) of our own child is denied
(the older Podman/CRI-O profiles), it is unknown and that rule is not applied.
Each planned entry names what answered it.

A call is rewritten only when the filters give it the same errno at every argument
vector asked (the oracle's magic padding, all zeros, all ones, its probe): an outer
rule keyed on arguments ("EPERM when flags != 0") allows some calls, which an
unconditional ENOSYS would break, so such a call is left alone.  A rule keyed on
values none of those vectors has is not seen.  An outer filter that hands calls to
a seccomp supervisor (USER_NOTIF) cannot be seen through: the oracle refuses before
asking anything, and so does the shim.

The compat ABI (i386 on x86_64, AArch32 on arm64) gets the same calls by name. A
64-bit process cannot make i386 syscalls to observe them, so this assumes the
outer filter treats both ABIs alike, as runtime profiles do (their rules name
calls, and apply to every listed architecture).
"""

from __future__ import annotations

import errno as E
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .. import _proc as proc
from .._fallbacks import FALLBACKS
from .._json import JsonObject
from .._oracle import UNFILTERED, OracleResult, scan
from .._probes import PROBES
from ..bpf.compile import compile_filter
from ..bpf.emulate import SeccompData, run
from ..bpf.insn import RET, Insn
from ..bpf.ir import Action, ArchPolicy, Filter, Rule
from ..bpf.load import install as install_program
from ..errors import SeccompatError
from ..policy import COMPAT_ABIS
from ..raw import errno_name
from ..syscalls import arch, find, kernel_version, known, lookup, native_arch, syscalls

__all__ = ["FALLBACKS", "ShimEntry", "ShimError", "ShimPlan", "ShimProgram", "ShimResult",
           "install", "install_from_env", "plan", "prepare", "shim_filter"]



class ShimError(SeccompatError, RuntimeError):
    """The shim cannot be installed here; nothing was changed.  ``str()`` says why;
    ``__cause__`` is the kernel's OSError where one refused it."""


@dataclass(frozen=True)
class ShimEntry:
    """One call in a plan: what the filters answer now, and why it is (not) rewritten."""

    name: str
    number: int
    errno: int | None
    reason: str
    oracle: str = "trace-rule"
    """What answered: "trace-rule" (the oracle's stacked TRACE rule, no tracer), or
    "trust" (nothing could; rewritten on the user's word)."""


@dataclass(frozen=True)
class ShimPlan:
    """Which calls the shim answers with ENOSYS, and why."""

    arch: str
    filter_active: bool
    highest_allowed: int | None
    rewrite: tuple[ShimEntry, ...] = ()
    keep: tuple[ShimEntry, ...] = ()
    problems: tuple[str, ...] = ()
    compat: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Raw numbers of the rewritten calls on the compat ABIs (i386 on x86_64)."""
    oracle: str = "trace-rule+ptrace"
    """The means that answered: "trace-rule+ptrace" (the highest allowed call found
    by tracing), or "trace-rule" (ptrace denied: the highest allowed call unknown)."""

    def to_json(self) -> JsonObject:
        def entry(e: ShimEntry) -> JsonObject:
            d = asdict(e)
            d["errno_name"] = None if e.errno is None else errno_name(e.errno)
            return d

        highest: JsonObject | None = None
        if self.highest_allowed is not None:
            highest = {"number": self.highest_allowed,
                       "name": lookup(self.highest_allowed, self.arch).name}
        return {"arch": self.arch, "filter_active": self.filter_active, "oracle": self.oracle,
                "highest_allowed": highest, "rewrite": [entry(e) for e in self.rewrite],
                "keep": [entry(e) for e in self.keep], "problems": list(self.problems),
                "compat": {k: list(v) for k, v in self.compat.items()}}


@dataclass(frozen=True)
class ShimResult:
    """What :func:`install` did."""

    installed: bool
    rewritten: tuple[str, ...]
    set_no_new_privs: bool
    reason: str


def plan(*, all_filtered: bool = False, only: Iterable[str] | None = None,
         trust: bool = False) -> ShimPlan:
    """Decide which calls to answer with ENOSYS (see the module docstring).

    *all_filtered* rewrites every call filtered with an errno other than ENOSYS;
    *only* rewrites exactly the named calls among those; with *trust*, also the
    named calls that no means could ask about (said in the plan).  Raises
    ``LookupError`` for an unknown name.
    """
    wanted = None if only is None else set(only)
    for name in wanted or ():
        if not known(name):
            lookup(name)  # raises with a suggestion
    native = native_arch()
    if proc.seccomp_mode() == 0:
        return ShimPlan(native.name, False, None)
    calls = [sc for sc in syscalls(native) if sc.name not in UNFILTERED.get(native.name, ())]
    # One child: every call padded, and the likely rewrites (the fallback calls, and
    # the calls of Linux 5.0 on, where runc's stub rule bites) at the argument vectors
    # _unconditional needs; then the highest ENOSYS answers traced until one passes.
    asked = [(sc.number, v) for sc in calls if sc.name in FALLBACKS or sc.since >= (5, 0)
             for v in _vectors(sc.name)]
    scanned = scan([*((sc.number, ()) for sc in calls), *asked],
                   pad=[True] * len(calls) + [False] * len(asked), trace="highest")
    answers = dict(zip((sc.name for sc in calls), scanned, strict=False))
    at_vectors = dict(zip(asked, scanned[len(calls):], strict=True))
    problems = _problems(answers)
    passes = [sc.number for sc in calls if answers[sc.name].kind == "passes"]
    highest = max(passes) if passes else None
    oracle = "trace-rule+ptrace" if highest is not None else "trace-rule"
    kv = kernel_version()
    rewrite: list[ShimEntry] = []
    trusted: list[ShimEntry] = []
    keep: list[ShimEntry] = []
    for sc in calls:
        answer = answers[sc.name]
        if answer.kind in ("unavailable", "enosys") and trust and wanted is not None \
                and sc.name in wanted:
            trusted.append(ShimEntry(sc.name, sc.number, None, "named with --only --trust: "
                                     f"nothing could tell ({answer.detail})", "trust"))
            continue
        if answer.kind in ("passes", "unavailable", "enosys"):
            continue  # allowed, or ENOSYS already (no filter, or a filter's)
        if answer.kind != "errno" or answer.errno == E.ENOSYS:
            how = "already ENOSYS" if answer.kind == "errno" else f"{answer.kind} by a filter"
            keep.append(ShimEntry(sc.name, sc.number, answer.errno, f"{how}: left alone"))
            continue
        if wanted is not None:
            target = sc.name in wanted
            why = "named with --only" if target else "not named with --only"
        elif kv < sc.since:
            target, why = False, (f"the kernel ({kv[0]}.{kv[1]}) predates it "
                                  f"({sc.since[0]}.{sc.since[1]})")
        elif all_filtered:
            target, why = True, "every filtered call (--all-filtered)"
        elif highest is not None and sc.number > highest:
            target = True
            why = (f"numbered above the highest call the filters allow ({highest}): "
                   "the runc ENOSYS-stub rule")
        elif sc.name in FALLBACKS:
            target, why = True, f"ENOSYS fallback: {FALLBACKS[sc.name]}"
        else:
            target, why = False, "denied on purpose: no well-known ENOSYS fallback"
        (rewrite if target else keep).append(ShimEntry(sc.name, sc.number, answer.errno, why))
    rewrite, conditional = _unconditional(rewrite, at_vectors)
    rewrite += trusted  # on the user's word: no vector can tell either
    keep.extend(conditional)
    compat = {}
    for abi in COMPAT_ABIS.get(native.name, ()):
        if abi == "x32":
            continue  # x32 calls reach the shim's bad-arch action: ALLOW
        numbers = []
        for entry in rewrite:
            found = find(entry.name, abi)
            if found is not None:
                numbers.append(found.number)
        compat[abi] = tuple(numbers)
    return ShimPlan(native.name, True, highest, tuple(rewrite), tuple(keep), problems, compat,
                    oracle)


#: Argument vectors each planned call is asked about besides the oracle's magic
#: padding: all zero, all ones (fd -1, every flag), and the call's probe.
_VECTORS = ((0,) * 6, (0xFFFFFFFFFFFFFFFF,) * 6)


def _vectors(name: str) -> tuple[tuple[int, ...], ...]:
    """The argument vectors a planned call is asked at (scan pads them to six)."""
    spec = PROBES.get(name)
    return _VECTORS if spec is None else (*_VECTORS, tuple(spec.args))


def _unconditional(entries: list[ShimEntry], known: dict[tuple[int, tuple[int, ...]],
                                                         OracleResult],
                   ) -> tuple[list[ShimEntry], list[ShimEntry]]:
    """The planned calls whose outer answer is the same errno at every argument vector
    asked, and those whose answer depends on the arguments: an outer rule such as
    "EPERM when flags != 0" allows some calls, and an unconditional ENOSYS would
    break those.  A rule keyed on values none of the vectors has goes unseen.
    *known*: answers already had, by (number, vector); the rest are asked now."""
    if not entries:
        return [], []
    asked = [(entry, _vectors(entry.name)) for entry in entries]
    missing = [(entry.number, v) for entry, vectors in asked for v in vectors
               if (entry.number, v) not in known]
    if missing:
        known = {**known, **dict(zip(missing, scan(missing, pad=False, trace="none"),
                                     strict=True))}
    same, conditional = [], []
    for entry, vectors in asked:
        got = [known[(entry.number, v)] for v in vectors]
        if all(a.kind == "errno" and a.errno == entry.errno for a in got):
            same.append(entry)
        else:
            conditional.append(ShimEntry(entry.name, entry.number, entry.errno,
                                         "the filters' answer depends on its arguments "
                                         "(some are allowed): left alone"))
    return same, conditional


def _problems(answers: dict[str, OracleResult]) -> tuple[str, ...]:
    out = []
    for name in ("seccomp", "prctl"):
        answer = answers.get(name)
        if answer is not None and answer.kind not in ("passes", "unavailable", "enosys"):
            what = errno_name(answer.errno) if answer.errno else answer.kind
            out.append(f"the filters answer {name}() with {what}: the shim cannot be installed")
    if all(a.kind == "unavailable" for a in answers.values()):
        detail = next(iter(answers.values())).detail if answers else "nothing to ask"
        if detail.startswith("cannot install a filter"):
            out.append(f"the filters refuse another filter ({detail.split(': ', 1)[-1]}): "
                       "the shim cannot be installed")
        else:
            out.append(f"the filter oracle is unavailable ({detail})")
    return tuple(out)


def shim_filter(shim: ShimPlan) -> Filter:
    """The filter to stack: ERRNO(ENOSYS) for the planned calls, ALLOW for the rest
    (other ABIs included: the outer filter already decides those)."""
    enosys = (Rule(Action.errno(E.ENOSYS)),)
    policies = [ArchPolicy(arch(shim.arch), Action.allow(), {e.number: enosys
                                                             for e in shim.rewrite})]
    for abi, numbers in shim.compat.items():
        policies.append(ArchPolicy(arch(abi), Action.allow(), dict.fromkeys(numbers, enosys)))
    return Filter(tuple(policies), bad_arch=Action.allow())


def _check_never_loosens(shim: ShimPlan, program: tuple[Insn, ...]) -> None:
    """Every number 0..1023 on this ABI: our answer is ALLOW, or ENOSYS for a call
    the filters already answer with an errno."""
    denied = {e.number for e in shim.rewrite}
    audit = arch(shim.arch).audit_arch
    base = arch(shim.arch).raw_number(0)
    for nr in range(base, base + 1024):
        value = run(program, SeccompData(nr, audit), checked=False)
        if value != RET.ALLOW and (nr not in denied or value != RET.ERRNO | E.ENOSYS):
            raise ShimError(f"the shim filter would change syscall {nr}: refused")


@dataclass(frozen=True)
class ShimProgram:
    """A shim filter that passed every check, ready to stack (see :func:`prepare`)."""

    program: tuple[Insn, ...]
    no_new_privs: bool
    """Whether installing it sets no_new_privs (neither set nor CAP_SYS_ADMIN)."""
    rewritten: tuple[str, ...]

    def install(self) -> None:
        """Stack it on this thread; ShimError (with the kernel's OSError as its
        cause) where the kernel refuses."""
        try:
            install_program(self.program, no_new_privs=self.no_new_privs)
        except OSError as exc:
            raise ShimError(f"cannot install the shim: {exc.strerror or exc}") from exc


def prepare(shim: ShimPlan) -> ShimProgram | None:
    """The one way to a shim filter: *shim*'s program, compiled and checked to change
    nothing but the planned calls (every number 0..1023 run through it); None when
    nothing needs rewriting.  ShimError, before anything is installed, for a plan
    with problems or a program that would change any other call.  The library, the
    CLI, ``python -m seccompat.shim`` and ``install_from_env`` all install through it."""
    if shim.problems:
        raise ShimError("; ".join(shim.problems))
    if not shim.rewrite:
        return None
    program = compile_filter(shim_filter(shim))
    _check_never_loosens(shim, program)
    state = proc.process_state()
    needs_nnp = not state.no_new_privs and not proc.has_capability("CAP_SYS_ADMIN")
    return ShimProgram(program, needs_nnp, tuple(e.name for e in shim.rewrite))


def install(shim: ShimPlan | None = None) -> ShimResult:
    """Stack the shim's filter on this thread (see the module docstring).

    Sets no_new_privs first unless it is set or the caller has CAP_SYS_ADMIN:
    afterwards, execve of a setuid or file-capability binary no longer raises
    privileges.  A second call finds nothing left to rewrite and does nothing.
    Raises :class:`ShimError`, with nothing changed, when the filters forbid
    seccomp() or prctl() or no means can plan.
    """
    shim = shim if shim is not None else plan()
    ready = prepare(shim)
    if ready is None:
        reason = "no seccomp filter is active" if not shim.filter_active else \
            "no call needs rewriting"
        return ShimResult(False, (), False, reason)
    ready.install()
    return ShimResult(True, ready.rewritten, ready.no_new_privs,
                      f"{len(ready.rewritten)} calls now answer ENOSYS")


def install_from_env(variable: str = "SECCOMPAT_SHIM") -> ShimResult | None:
    """For ``sitecustomize.py``: install the shim when *variable* is 1/yes/true."""
    if os.environ.get(variable, "").lower() not in ("1", "yes", "true"):
        return None
    return install()
