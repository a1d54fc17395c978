"""Rewrite a profile so the calls it did not know get ENOSYS, and prove it.

A profile's EPERM default answers two kinds of call alike: the ones its authors
denied on purpose, and the ones they never heard of (newer than the profile, or
with a userspace fallback that only runs on ENOSYS: lint's SC101).  The fix keeps
the first kind's errno and gives the second ENOSYS:

* where the runtime honours ``defaultErrnoRet``: the default becomes ENOSYS, and
  explicit denials keep the old errno for every call known when the profile was
  written, including the argument and capability cases where a named call fell
  to the default (the exact complement of its rules, as extra rules);
* where it does not (runc before 1.0.0-rc95, Docker up to 20.10): the default
  stays, and one ERRNO(ENOSYS) rule names every newer call this table knows;
  calls newer than the table still get the default, with a warning;
* Docker 19.03 and 20.10.0-20.10.9 drop every errnoRet: nothing can be fixed.

The proof translates original and fix under the runtime with no, default and all
capabilities and compares every call's verdict on the ABI.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._fallbacks import FALLBACKS
from .._probes import PROBES
from ..bpf.insn import RET
from ..bpf.ir import Action, ArgCmp, Op
from ..errors import SeccompatError
from ..syscalls import Arch, arch, syscalls
from .argset import TOP as _TOP
from .argset import ArgSet, satisfiable
from .edit import append_items, set_in_elements, set_member, spans
from .explain import Explanation, Reason, describe, explain
from .model import Condition, Profile, SyscallRule, parse
from .runtimes import ALL_CAPS, SCMP_OPS, Runtime, arg_cmp, parse_runtime, translate

__all__ = ["FixError", "FixResult", "Proof", "fix"]

ENOSYS = 38
_MAX_GROUPS = 256
# The most alternatives a call's "falls to the default" region may grow to while its
# rules are combined; beyond, its other arguments get ENOSYS (args_enosys), which
# the proof accepts.  (A region that large splits into far more rules than any
# complement budget allows anyway.)
_REGION_LIMIT = 64
_CONFIGS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("no capabilities", ()), ("default capabilities", None), ("all capabilities", ALL_CAPS))
_SCMP_NAMES = {op: name for name, op in SCMP_OPS.items()}
_NEGATE = {Op.EQ: Op.NE, Op.NE: Op.EQ, Op.LT: Op.GE, Op.GE: Op.LT, Op.LE: Op.GT, Op.GT: Op.LE}


class FixError(SeccompatError, ValueError):
    """The profile cannot be fixed for that runtime (the message says why)."""


@dataclass
class Proof:
    configurations: list[str]
    unchanged: int = 0
    """Verdicts compared equal (calls x configurations)."""
    now_enosys: set[str] = field(default_factory=set)
    args_enosys: set[str] = field(default_factory=set)
    """Calls whose arguments outside their rules now get ENOSYS, not the old errno."""
    mismatches: list[str] = field(default_factory=list)


@dataclass
class FixResult:
    text: str
    strategy: str
    added_rules: int
    warnings: list[str]
    proof: Proof


# --- the complement of a call's rules, as rules ------------------------------------

@dataclass(frozen=True)
class _Group:
    """One deny rule's conditions: engine includes/excludes and argument tests (AND)."""

    inc_caps: frozenset[str] = frozenset()
    inc_arches: frozenset[str] | None = None
    inc_kernel: tuple[int, int] | None = None
    exc_caps: frozenset[str] = frozenset()
    exc_arches: frozenset[str] = frozenset()
    exc_kernel: tuple[int, int] | None = None
    args: tuple[ArgCmp, ...] = ()

    def merge(self, other: _Group) -> _Group | None:
        """Both at once, or None when that is impossible; *self* must be satisfiable."""
        inc_arches = self.inc_arches if other.inc_arches is None else (
            other.inc_arches if self.inc_arches is None else self.inc_arches & other.inc_arches)
        g = _Group(self.inc_caps | other.inc_caps, inc_arches,
                   _max(self.inc_kernel, other.inc_kernel), self.exc_caps | other.exc_caps,
                   self.exc_arches | other.exc_arches, _min(self.exc_kernel, other.exc_kernel),
                   self.args + other.args)
        if g.inc_caps & g.exc_caps or (g.inc_arches is not None and
                                       not g.inc_arches - g.exc_arches):
            return None
        if g.inc_kernel and g.exc_kernel and g.inc_kernel >= g.exc_kernel:
            return None
        if not other.args:
            return g
        # Arguments are independent and *self* is satisfiable (every group _and
        # builds is): only the indices *other* tests can have become empty.
        touched = {c.index for c in other.args}
        return g if satisfiable(tuple(c for c in g.args if c.index in touched)) else None


def _max(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    return b if a is None else a if b is None else min(a, b)


def _not_cmp(c: ArgCmp) -> list[_Group]:
    """``not c`` as alternatives of single comparisons (a mask: one per bit)."""
    if c.op is Op.MASKED_EQ:
        return [_Group(args=(ArgCmp(c.index, Op.MASKED_EQ, bit & ~c.value, bit),))
                for bit in (1 << i for i in range(64)) if c.mask & bit]
    return [_Group(args=(ArgCmp(c.index, _NEGATE[c.op], c.value),))]


def _and(left: list[_Group], right: list[_Group]) -> list[_Group] | None:
    out: dict[_Group, None] = {}  # ordered and deduplicated
    for a, b in itertools.product(left, right):
        g = a.merge(b)
        if g is not None:
            out[g] = None
            if len(out) > _REGION_LIMIT:
                return None
    return list(out)


def _not_condition(cond: Condition, include: bool) -> list[_Group]:
    """When an includes block fails (include) or an excludes block drops the rule."""
    if include:
        alts = [_Group(exc_caps=frozenset([c])) for c in cond.caps]
        if cond.arches:
            alts.append(_Group(exc_arches=frozenset(cond.arches)))
        if cond.min_kernel:
            alts.append(_Group(exc_kernel=cond.min_kernel))
        return alts
    alts = [_Group(inc_caps=frozenset([c])) for c in cond.caps]
    if cond.arches:
        alts.append(_Group(inc_arches=frozenset(cond.arches)))
    if cond.min_kernel:
        alts.append(_Group(inc_kernel=cond.min_kernel))
    return alts


def _effective(cond: Condition, runtime: Runtime) -> Condition:
    if runtime.engine is None:
        return Condition()  # runc and crun read no includes/excludes
    return cond if runtime.engine == "docker" else Condition(cond.caps, cond.arches, None)


def _not_rule(rule: SyscallRule, runtime: Runtime) -> list[_Group] | None:
    """When *rule* does not apply to a call, as alternatives."""
    alts = _not_condition(_effective(rule.includes, runtime), True)
    ex = _effective(rule.excludes, runtime)
    alts += _not_condition(ex, False) if not ex.empty else []
    cmps = [arg_cmp(a) for a in rule.args]
    if len({c.index for c in cmps}) == len(cmps):  # AND: any test failing
        for c in cmps:
            alts += _not_cmp(c)
        return alts
    every: list[_Group] | None = [_Group()]  # a repeated index means OR: all must fail
    for c in cmps:
        every = _and(every, _not_cmp(c)) if every is not None else None
    return None if every is None else alts + every


def _unconditional(rule: SyscallRule, runtime: Runtime) -> bool:
    return not rule.args and _effective(rule.includes, runtime).empty and \
        _effective(rule.excludes, runtime).empty


def _falls_to_default(rules: list[SyscallRule], runtime: Runtime) -> list[_Group] | None:
    """Where a named call gets the default: every rule's complement at once."""
    region: list[_Group] | None = [_Group()]
    for rule in rules:
        alts = _not_rule(rule, runtime)
        if region is None or alts is None:
            return None
        region = _and(region, alts)
    return region


def _blocks(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi] as aligned blocks ``(base, k)``: base .. base + 2**k - 1."""
    out = []
    while lo <= hi:
        k = (lo & -lo).bit_length() - 1 if lo else 64
        while k > 0 and lo + (1 << k) - 1 > hi:
            k -= 1
        out.append((lo, k))
        if lo + (1 << k) - 1 >= hi:
            break
        lo += 1 << k
    return out


def _one_index(index: int, cmps: list[ArgCmp]) -> list[ArgCmp] | None:
    """The values meeting every comparison on one argument, as alternatives of single
    comparisons (bounds, or an aligned block merged with the fixed bits); [] for none,
    None for every value (no test needed)."""
    values = ArgSet.of(cmps)
    if values is None:
        return []
    mask, value = values.mask, values.value
    pieces = values.intervals()
    if not mask and pieces == [(0, _TOP)]:
        return None
    out: list[ArgCmp] = []
    for a, b in pieces:
        if not mask:
            if a == b:
                out.append(ArgCmp(index, Op.EQ, a))
                continue
            if a == 0 or b == _TOP:
                out.append(ArgCmp(index, Op.LE, b) if a == 0 else ArgCmp(index, Op.GE, a))
                continue
        for base, k in _blocks(a, b):
            low_bits = (1 << k) - 1
            high = _TOP & ~low_bits
            if base & mask & high != value & high:
                continue  # the fixed bits rule this block out
            out.append(ArgCmp(index, Op.MASKED_EQ, base | (value & low_bits),
                              high | (mask & low_bits)))
    return out


def _split(group: _Group) -> list[_Group] | None:
    """*group* as groups testing each argument at most once (runc ORs tests that
    share an index), or None when that takes too many rules."""
    by_index: dict[int, list[ArgCmp]] = {}
    for c in group.args:
        by_index.setdefault(c.index, []).append(c)
    choices: list[list[ArgCmp | None]] = []
    for index, cmps in sorted(by_index.items()):
        alts = [cmps[0]] if len(cmps) == 1 else _one_index(index, cmps)
        if alts == []:
            return []
        choices.append([None] if alts is None else list(alts))
    out = []
    for combo in itertools.product(*choices):
        out.append(_Group(group.inc_caps, group.inc_arches, group.inc_kernel, group.exc_caps,
                          group.exc_arches, group.exc_kernel,
                          tuple(c for c in combo if c is not None)))
        if len(out) > _MAX_GROUPS:
            return None
    return out


def _complement(region: list[_Group] | None, budget: int) -> list[_Group] | None:
    """*region* as rules runc can express (each argument tested once), or None when
    that takes more than *budget* rules testing arguments (or is too large at all)."""
    if region is None:
        return None
    out: list[_Group] = []
    for group in region:
        split = _split(group)
        if split is None:
            return None
        out += split
        if len(out) > budget and any(g.args for g in out):
            return None
    return out


def _rule_json(names: Sequence[str], errno: int, group: _Group, docker: bool,
               comment: str) -> dict[str, Any]:
    out: dict[str, Any] = {"names": list(names), "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
    if group.args:
        out["args"] = [{"index": c.index, "value": c.mask if c.op is Op.MASKED_EQ else c.value,
                        "valueTwo": c.value if c.op is Op.MASKED_EQ else 0,
                        "op": _SCMP_NAMES[c.op]}
                       for c in group.args]
    if docker:
        out["comment"] = comment
        inc: dict[str, Any] = {}
        exc: dict[str, Any] = {}
        if group.inc_caps:
            inc["caps"] = sorted(group.inc_caps)
        if group.inc_arches is not None:
            inc["arches"] = sorted(group.inc_arches)
        if group.inc_kernel:
            inc["minKernel"] = "{}.{}".format(*group.inc_kernel)
        if group.exc_caps:
            exc["caps"] = sorted(group.exc_caps)
        if group.exc_arches:
            exc["arches"] = sorted(group.exc_arches)
        if group.exc_kernel:
            exc["minKernel"] = "{}.{}".format(*group.exc_kernel)
        if inc:
            out["includes"] = inc
        if exc:
            out["excludes"] = exc
    return out


# --- which calls the profile knew ---------------------------------------------------

def _unknown_to_profile(profile: Profile, abis: list[Arch], keep: Iterable[str]) -> set[str]:
    """Calls the profile does not name and did not know: newer than every call it
    names, or with an ENOSYS fallback its EPERM default breaks (lint's SC101)."""
    era = profile.newest_kernel(abis[0])
    named = profile.named()
    kept = set(keep)
    out = set()
    for abi in abis:
        for sc in syscalls(abi):
            if sc.name in named or sc.name in kept:
                continue
            spec = PROBES.get(sc.name)
            if sc.since > era or (sc.name in FALLBACKS and not (spec and spec.gates)):
                out.add(sc.name)
    return out


# --- the rewrite ----------------------------------------------------------------------

def _like_the_default(profile: Profile) -> set[int]:
    """The positions of the rules equal to the default (ERRNO with its errno), which
    runc and crun skip: with the default moved to ENOSYS they would start to apply."""
    old = profile.default_errno or 1
    return {_index(rule) for rule in profile.syscalls
            if rule.action == "SCMP_ACT_ERRNO" and (rule.errno_ret or 1) == old}


def _index(rule: SyscallRule) -> int:
    """The rule's position in the profile's syscalls array (its path ends ``[N]``)."""
    return int(rule.path.rsplit("[", 1)[1].rstrip("]"))


def _rewrite(text: str, default_errno: bool, added: list[dict[str, Any]],
             skipped: set[int]) -> str:
    """The input text with the new default and rules, every other byte kept; the
    rules at *skipped* (equal to the old default) get the new one's errno, so that
    they stay equal to it and skipped."""
    where = spans(text)
    base: tuple[str, ...] = ("linux", "seccomp") if ("linux", "seccomp") in where and \
        ("defaultAction",) not in where else ()
    array = (*base, "syscalls")
    if default_errno:
        text = set_member(text, base, "defaultErrnoRet", ENOSYS, after="defaultAction")
        if (*base, "defaultErrno") in spans(text):
            text = set_member(text, base, "defaultErrno", "ENOSYS")
        if skipped:
            text = set_in_elements(text, array, skipped, "errnoRet", ENOSYS, after="action")
    current = spans(text).get(array)
    if current is not None and text[current.value_start] == "[":
        return append_items(text, array, added)
    return set_member(text, base, "syscalls", added, after="defaultAction") if added else text


def fix(text: str | bytes, runtime: Runtime | str | None = None, *,
        target: str | Arch | None = None, kernel: tuple[int, int] = (6, 18),
        keep: Iterable[str] = (), complement_budget: int = 8) -> FixResult:
    """The fixed profile's text, the strategy, warnings, and the proof.

    A call allowed only for some arguments keeps the old errno for the others
    through complement rules when they take at most *complement_budget* rules;
    beyond that (personality's five allowed values take 83 aligned blocks, three
    ABIs of which overflow the kernel's 4096 instructions) those arguments get
    ENOSYS, as in containers/common's ENOSYS-default profile, and the proof lists
    the call under ``args_enosys``.

    Raises ProfileError for a bad profile and FixError when it cannot be fixed.
    """
    profile = parse(text)
    rt = (runtime if isinstance(runtime, Runtime) else parse_runtime(runtime)).for_profile(
        profile)
    host = arch(target) if target is not None else arch(None)
    if profile.default_action != "SCMP_ACT_ERRNO":
        raise FixError(f"the default is {profile.default_action}: only an ERRNO default "
                       "answers unknown calls with an errno to fix")
    old_errno = profile.default_errno or 1
    if old_errno == ENOSYS:
        raise FixError("the default is already ENOSYS: nothing to fix")
    if not rt.keeps_errno_ret:
        raise FixError(f"{rt.label()} drops every errnoRet, so no profile can give ENOSYS "
                       "there: upgrade to Docker 20.10.10 or later")
    abis = profile.abis(host)
    # The original's verdicts, under each capability set: for the stub and the proof.
    before = _explained(profile, rt, host, kernel)
    unknown = _unknown_to_profile(profile, abis, keep)
    either: set[str] = set()  # calls where ENOSYS and the old errno are both faithful
    args_enosys: set[str] = set()
    warnings: list[str] = []
    added: list[dict[str, Any]] = []
    docker = profile.docker_format
    if rt.honours_default_errno:
        strategy = "defaultErrnoRet ENOSYS, with explicit denials of the calls the profile knew"
        names = {sc.name for abi in abis for sc in syscalls(abi)}
        by_name: dict[str, list[SyscallRule]] = {}
        skipped = _like_the_default(profile)
        for rule in profile.syscalls:
            for n in rule.names:
                # A rule equal to the default never applies: where it matches, the
                # default answers; it names the call all the same.
                by_name.setdefault(n, []).extend(() if _index(rule) in skipped else (rule,))
        # Calls runc's stub answers ENOSYS whatever the capabilities stay that way.
        stubbed = set.intersection(*({e.name for e in explained if e.reason is Reason.STUB}
                                     for explained in before.values()))
        unnamed = sorted(n for n in names - unknown - stubbed if n not in by_name)
        # Named, but newer than the runtime's libseccomp: it falls to the default
        # whatever the rules say, so ENOSYS there is as faithful as the old errno.
        either |= {n for n in by_name if n in names and all(
            sc.since > rt.libseccomp_kernel for abi in abis for sc in syscalls(abi)
            if sc.name == n)}
        if unnamed:
            added.append(_rule_json(unnamed, old_errno, _Group(), docker,
                                    "seccompat fix: what the original default denied"))
        complements: dict[_Group, list[str]] = {}  # one rule per condition, many names
        for name in sorted(by_name):
            named_rules = by_name[name]
            if any(_unconditional(r, rt) for r in named_rules):
                continue
            groups = _complement(_falls_to_default(named_rules, rt), complement_budget)
            if groups is None:
                args_enosys.add(name)  # as containers/common's ENOSYS-default profile does
                continue
            for group in groups:
                complements.setdefault(group, []).append(name)
        for group, group_names in complements.items():
            added.append(_rule_json(group_names, old_errno, group, docker,
                                    "seccompat fix: where the original rules did not apply"))
    else:
        strategy = "default kept (the runtime ignores defaultErrnoRet), newer calls named ENOSYS"
        warnings.append(f"{rt.label()} ignores defaultErrnoRet: calls newer than this table "
                        f"still get the default errno {old_errno}")
        unresolved = {n for n in unknown
                      if all(sc.since > rt.libseccomp_kernel
                             for abi in abis for sc in syscalls(abi) if sc.name == n)}
        if unresolved:
            warnings.append(f"{rt.label()}'s libseccomp cannot name "
                            f"{', '.join(sorted(unresolved))}: they keep errno {old_errno} "
                            "unless runc's stub answers them")
            unknown -= unresolved
            either |= unresolved
        if unknown:
            added.append(_rule_json(sorted(unknown), ENOSYS, _Group(), docker,
                                    "seccompat fix: calls the profile did not know"))
    source = text.decode() if isinstance(text, bytes) else text
    new_text = _rewrite(source, rt.honours_default_errno, added, _like_the_default(profile))
    proof = prove(profile, before, parse(new_text), rt, host, kernel, unknown, either,
                  args_enosys)
    return FixResult(new_text, strategy, len(added), warnings, proof)


def _explained(profile: Profile, runtime: Runtime, abi: Arch,
               kernel: tuple[int, int]) -> dict[str, list[Explanation]]:
    """The verdicts under each capability set of :data:`_CONFIGS`, by label (one
    translation where capabilities cannot matter: runc and crun read none, and a
    profile may name none)."""
    if runtime.engine is None or not any(r.includes.caps or r.excludes.caps
                                         for r in profile.syscalls):
        once = explain(translate(profile, runtime, target=abi, kernel=kernel), abi)
        return {label: once for label, _ in _CONFIGS}
    return {label: explain(translate(profile, runtime, target=abi, kernel=kernel, caps=caps),
                           abi) for label, caps in _CONFIGS}


def _candidates(cmps: Iterable[ArgCmp]) -> set[int]:
    values = {0, _TOP, 7}
    for c in cmps:
        if c.op is Op.MASKED_EQ:
            bits = [1 << i for i in range(64) if c.mask >> i & 1]
            picked = bits if len(bits) <= 16 else bits[:4] + bits[-4:]
            values |= {c.value, c.value | (_TOP & ~c.mask)} | {c.value ^ b for b in picked}
        else:
            values |= {c.value, max(c.value - 1, 0), min(c.value + 1, _TOP)}
    return values


def _difference(a: Explanation, b: Explanation,
                relaxed: tuple[Action, Action] | None = None) -> tuple[int, ...] | None:
    """Arguments on which *a* and *b* disagree, searched among the boundary values of
    every comparison of either (one argument varied at a time, and every combination
    when that is small), or None."""
    if a.action is not None and b.action is not None:
        return None if a.action == b.action else (0,) * 6
    cmps = [c for e in (a, b) for br in e.branches for c in br.conditions]
    per_index = {i: _representatives([c for c in cmps if c.index == i])
                 for i in sorted({c.index for c in cmps})}
    size = 1
    for values in per_index.values():
        size *= len(values)
    if size <= _GRID:
        return _Grid(per_index).difference(a, b, relaxed)
    for args in (_vector({i: v}) for i, values in per_index.items() for v in values):
        before, after = a.decide(args), b.decide(args)
        if before != after and (before, after) != relaxed:
            return args
    return None


#: The most argument combinations compared exhaustively (beyond: one at a time).
_GRID = 1 << 16


class _Grid:
    """Every combination of the candidate values, as the bits of one int: the cells
    where a condition holds are a bit mask, so an explanation's outcome over the
    whole grid takes a few big-int operations per branch."""

    def __init__(self, per_index: dict[int, list[int]]) -> None:
        self.per_index = per_index
        self.strides: dict[int, int] = {}
        stride = 1
        for i in reversed(per_index):
            self.strides[i] = stride
            stride *= len(per_index[i])
        self.full = (1 << stride) - 1
        self.masks: dict[int, list[int]] = {}  # index -> cells where it has value #p
        for i, values in per_index.items():
            step, period = self.strides[i], self.strides[i] * len(values)
            repeat = self.full // ((1 << period) - 1)
            self.masks[i] = [(((1 << step) - 1) << (p * step)) * repeat
                             for p in range(len(values))]

    def _cells(self, conditions: tuple[ArgCmp, ...]) -> int:
        cells = self.full
        for c in conditions:
            cells &= sum(m for m, v in zip(self.masks[c.index], self.per_index[c.index],
                                            strict=True) if c.matches(v))
        return cells

    def _outcomes(self, e: Explanation) -> list[tuple[int, Action]]:
        if e.action is not None:
            return [(self.full, e.action)]
        out, left = [], self.full
        for branch in e.branches:  # the first branch that matches wins
            cells = self._cells(branch.conditions) & left
            if cells:
                out.append((cells, branch.action))
                left &= ~cells
            if not left:
                break
        assert e.otherwise is not None
        return [*out, (left, e.otherwise)] if left else out

    def difference(self, a: Explanation, b: Explanation,
                   relaxed: tuple[Action, Action] | None) -> tuple[int, ...] | None:
        theirs = self._outcomes(b)
        for cells_a, action_a in self._outcomes(a):
            for cells_b, action_b in theirs:
                both = cells_a & cells_b
                if both and action_a != action_b and (action_a, action_b) != relaxed:
                    cell = (both & -both).bit_length() - 1
                    return _vector({i: values[cell // self.strides[i] % len(values)]
                                    for i, values in self.per_index.items()})
        return None


def _shape(e: Explanation) -> tuple[object, ...]:
    """What *e*'s decisions depend on (not its texts)."""
    return (e.action, e.otherwise, tuple((b.conditions, b.action) for b in e.branches))


def _representatives(cmps: list[ArgCmp]) -> list[int]:
    """One candidate value per distinct outcome of *cmps*: two values every comparison
    on this argument answers alike cannot tell the explanations apart (exact, and it
    keeps the grid of combinations small)."""
    seen: dict[tuple[bool, ...], int] = {}
    for value in sorted(_candidates(cmps)):
        seen.setdefault(tuple(c.matches(value) for c in cmps), value)
    return sorted(seen.values())


def _one_of(e: Explanation, before: Action | None, old_errno: int) -> bool:
    """*e* answers every call with ENOSYS, with the profile's errno, or as *before*."""
    accepted = {Action.errno(ENOSYS), Action.errno(old_errno), before}
    return e.action in accepted


def _vector(values: dict[int, int]) -> tuple[int, ...]:
    return tuple(values.get(i, 7) for i in range(6))


def prove(original: Profile, before: dict[str, list[Explanation]], fixed: Profile,
          runtime: Runtime, abi: Arch, kernel: tuple[int, int], unknown: set[str],
          either: set[str], args_enosys: set[str]) -> Proof:
    """Compare every call's verdict, with no, the default and all capabilities
    (*before*: the original's explanations under each, by label).

    Calls in *unknown* that got the default must now get ENOSYS; the rest must get
    what they got, except that where runc's stub (whose bound moves with the names
    a profile lists) or an unresolvable name decided, ENOSYS and the profile's own
    errno are both accepted, and for the calls in *args_enosys* an argument case
    that got the old default may now get ENOSYS.
    """
    proof = Proof([f"{runtime.label()} on {abi.name}, {label}" for label, _ in _CONFIGS])
    old_errno = original.default_errno or 1
    seen: dict[tuple[object, ...], tuple[int, ...] | None] = {}

    def difference(a: Explanation, b: Explanation,
                   relaxed: tuple[Action, Action] | None = None) -> tuple[int, ...] | None:
        # The capability sets often give the same verdicts: search each pair once.
        key = (_shape(a), _shape(b), relaxed)
        if key not in seen:
            seen[key] = _difference(a, b, relaxed)
        return seen[key]

    explained = _explained(fixed, runtime, abi, kernel)
    for label, _ in _CONFIGS:
        after = explained[label]
        for o, f in zip(before[label], after, strict=True):
            if o.name in unknown and o.reason in (Reason.DEFAULT, Reason.STUB):
                if f.action is not None and f.action.kind == RET.ERRNO and \
                        f.action.data == ENOSYS:
                    proof.now_enosys.add(o.name)
                    continue
                proof.mismatches.append(f"{label}: {o.name}: {o.verdict} became {f.verdict}, "
                                        "not ENOSYS")
            elif (o.name in either or o.reason is Reason.STUB) and _one_of(f, o.action,
                                                                          old_errno):
                proof.unchanged += 1
            else:
                relaxed = (Action.errno(old_errno), Action.errno(ENOSYS)) \
                    if o.name in args_enosys else None
                witness = difference(o, f, relaxed)
                if witness is None:
                    proof.unchanged += 1
                    if o.name in args_enosys and difference(o, f) is not None:
                        proof.args_enosys.add(o.name)
                else:
                    args = ", ".join(hex(a) for a in witness)
                    proof.mismatches.append(f"{label}: {o.name}({args}): "
                                            f"{describe(o.decide(witness))} became "
                                            f"{describe(f.decide(witness))}")
    return proof
