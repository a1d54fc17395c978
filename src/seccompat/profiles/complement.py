"""The complement of a call's rules, as rules: where a named call falls to the
profile's default, written as deny rules the runtime can express.

A rule applies when its includes hold, its excludes do not, and its argument
tests pass; the region where none of a call's rules applies is the AND of each
rule's negation, kept as alternatives (``Group``: engine conditions and argument
tests, ANDed).  runc ORs the tests that share an argument index, so each group is
split until every argument is tested at most once (exact: aligned blocks and
bounds, from :mod:`.argset`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..bpf.ir import ArgCmp, Op
from .argset import TOP as _TOP
from .argset import ArgSet, satisfiable
from .conversion import arg_cmp
from .model import Condition, SyscallRule
from .runtimes import Runtime

__all__ = ["Group", "complement", "falls_to_default", "unconditional"]

_MAX_GROUPS = 256
# The most alternatives a call's "falls to the default" region may grow to while its
# rules are combined; beyond, its other arguments get ENOSYS (args_enosys), which
# the proof accepts.  (A region that large splits into far more rules than any
# complement budget allows anyway.)
_REGION_LIMIT = 64
_NEGATE = {Op.EQ: Op.NE, Op.NE: Op.EQ, Op.LT: Op.GE, Op.GE: Op.LT, Op.LE: Op.GT, Op.GT: Op.LE}


@dataclass(frozen=True)
class Group:
    """One deny rule's conditions: engine includes/excludes and argument tests (AND)."""

    inc_caps: frozenset[str] = frozenset()
    inc_arches: frozenset[str] | None = None
    inc_kernel: tuple[int, int] | None = None
    exc_caps: frozenset[str] = frozenset()
    exc_arches: frozenset[str] = frozenset()
    exc_kernel: tuple[int, int] | None = None
    args: tuple[ArgCmp, ...] = ()

    def merge(self, other: Group) -> Group | None:
        """Both at once, or None when that is impossible; *self* must be satisfiable."""
        inc_arches = self.inc_arches if other.inc_arches is None else (
            other.inc_arches if self.inc_arches is None else self.inc_arches & other.inc_arches)
        g = Group(self.inc_caps | other.inc_caps, inc_arches,
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


def _not_cmp(c: ArgCmp) -> list[Group]:
    """``not c`` as alternatives of single comparisons (a mask: one per bit)."""
    if c.op is Op.MASKED_EQ:
        return [Group(args=(ArgCmp(c.index, Op.MASKED_EQ, bit & ~c.value, bit),))
                for bit in (1 << i for i in range(64)) if c.mask & bit]
    return [Group(args=(ArgCmp(c.index, _NEGATE[c.op], c.value),))]


def _and(left: list[Group], right: list[Group]) -> list[Group] | None:
    out: dict[Group, None] = {}  # ordered and deduplicated
    for a, b in itertools.product(left, right):
        g = a.merge(b)
        if g is not None:
            out[g] = None
            if len(out) > _REGION_LIMIT:
                return None
    return list(out)


def _not_condition(cond: Condition, include: bool) -> list[Group]:
    """When an includes block fails (include) or an excludes block drops the rule:
    any one of its conditions excluded, or included."""

    def one(caps: frozenset[str] = frozenset(), arches: frozenset[str] | None = None,
            kernel: tuple[int, int] | None = None) -> Group:
        if include:
            return Group(exc_caps=caps, exc_arches=arches or frozenset(), exc_kernel=kernel)
        return Group(inc_caps=caps, inc_arches=arches, inc_kernel=kernel)

    alts = [one(caps=frozenset([c])) for c in cond.caps]
    if cond.arches:
        alts.append(one(arches=frozenset(cond.arches)))
    if cond.min_kernel:
        alts.append(one(kernel=cond.min_kernel))
    return alts


def _effective(cond: Condition, runtime: Runtime) -> Condition:
    if runtime.engine is None:
        return Condition()  # runc and crun read no includes/excludes
    return cond if runtime.engine == "docker" else Condition(cond.caps, cond.arches, None)


def _not_rule(rule: SyscallRule, runtime: Runtime) -> list[Group] | None:
    """When *rule* does not apply to a call, as alternatives."""
    alts = _not_condition(_effective(rule.includes, runtime), True)
    ex = _effective(rule.excludes, runtime)
    alts += _not_condition(ex, False) if not ex.empty else []
    cmps = [arg_cmp(a) for a in rule.args]
    if len({c.index for c in cmps}) == len(cmps):  # AND: any test failing
        for c in cmps:
            alts += _not_cmp(c)
        return alts
    every: list[Group] | None = [Group()]  # a repeated index means OR: all must fail
    for c in cmps:
        every = _and(every, _not_cmp(c)) if every is not None else None
    return None if every is None else alts + every


def unconditional(rule: SyscallRule, runtime: Runtime) -> bool:
    return not rule.args and _effective(rule.includes, runtime).empty and \
        _effective(rule.excludes, runtime).empty


def falls_to_default(rules: list[SyscallRule], runtime: Runtime) -> list[Group] | None:
    """Where a named call gets the default: every rule's complement at once."""
    region: list[Group] | None = [Group()]
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


def _split(group: Group) -> list[Group] | None:
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
        out.append(Group(group.inc_caps, group.inc_arches, group.inc_kernel, group.exc_caps,
                          group.exc_arches, group.exc_kernel,
                          tuple(c for c in combo if c is not None)))
        if len(out) > _MAX_GROUPS:
            return None
    return out


def complement(region: list[Group] | None, budget: int) -> list[Group] | None:
    """*region* as rules runc can express (each argument tested once), or None when
    that takes more than *budget* rules testing arguments (or is too large at all)."""
    if region is None:
        return None
    out: list[Group] = []
    for group in region:
        split = _split(group)
        if split is None:
            return None
        out += split
        if len(out) > budget and any(g.args for g in out):
            return None
    return out
