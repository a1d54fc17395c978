"""The proof of a fix: original and fixed profile translated under the runtime
with no, the default and all capabilities, and every call's verdict compared on
the ABI (argument cases searched among every comparison's boundary values)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from errno import ENOSYS

from ..bpf.insn import RET
from ..bpf.ir import Action, ArgCmp, Op
from ..syscalls import Arch
from .argset import TOP as _TOP
from .conversion import translate
from .explain import Explanation, Reason, describe, explain
from .model import Profile, errno_or_eperm
from .runtimes import ALL_CAPS, Runtime

__all__ = ["CONFIGS", "Proof", "explained", "prove"]

#: The capability sets a fix is proved under: (label, caps; None for the default).
CONFIGS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("no capabilities", ()), ("default capabilities", None), ("all capabilities", ALL_CAPS))


@dataclass
class Proof:
    configurations: list[str]
    unchanged: int = 0
    """Verdicts compared equal (calls x configurations)."""
    now_enosys: set[str] = field(default_factory=set)
    args_enosys: set[str] = field(default_factory=set)
    """Calls whose arguments outside their rules now get ENOSYS, not the old errno."""
    mismatches: list[str] = field(default_factory=list)


def explained(profile: Profile, runtime: Runtime, abi: Arch,
               kernel: tuple[int, int]) -> dict[str, list[Explanation]]:
    """The verdicts under each capability set of :data:`CONFIGS`, by label (one
    translation where capabilities cannot matter: runc and crun read none, and a
    profile may name none)."""
    if runtime.engine is None or not any(r.includes.caps or r.excludes.caps
                                         for r in profile.syscalls):
        once = explain(translate(profile, runtime, target=abi, kernel=kernel), abi)
        return {label: once for label, _ in CONFIGS}
    return {label: explain(translate(profile, runtime, target=abi, kernel=kernel, caps=caps),
                           abi) for label, caps in CONFIGS}


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
    proof = Proof([f"{runtime.label()} on {abi.name}, {label}" for label, _ in CONFIGS])
    old_errno = errno_or_eperm(original.default_errno)
    seen: dict[tuple[object, ...], tuple[int, ...] | None] = {}

    def difference(a: Explanation, b: Explanation,
                   relaxed: tuple[Action, Action] | None = None) -> tuple[int, ...] | None:
        # The capability sets often give the same verdicts: search each pair once.
        key = (_shape(a), _shape(b), relaxed)
        if key not in seen:
            seen[key] = _difference(a, b, relaxed)
        return seen[key]

    after_fix = explained(fixed, runtime, abi, kernel)
    for label, _ in CONFIGS:
        after = after_fix[label]
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
