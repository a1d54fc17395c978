"""What a process gets for each syscall under a translated profile, and why.

The answer is read off the filter the runtime installs (the same
:class:`~seccompat.bpf.ir.ArchPolicy` the compiler turns into BPF), so an
explanation cannot drift from what runs.  When several rules of one call match,
the first branch in the order libseccomp's filter tries them wins
(:mod:`.libseccomp_tree`); the branches are listed in that order.
"""

from __future__ import annotations

import enum
import errno as _errno
from dataclasses import dataclass, replace

from ..bpf.insn import RET
from ..bpf.ir import Action, ArchPolicy, ArgCmp, Filter, Op
from ..syscalls import Arch, known, lookup, syscalls
from .conversion import Dropped, Translation

__all__ = ["Branch", "Explanation", "Reason", "describe", "differences", "explain",
           "policy_for"]


@dataclass(frozen=True)
class Branch:
    """One argument-dependent outcome: when every condition holds, *action*."""

    conditions: tuple[ArgCmp, ...]
    action: Action
    where: str


class Reason(str, enum.Enum):
    """Where a verdict comes from: what decisions are made on (``why`` is its text)."""

    DEFAULT = "default"
    """No rule applies: the profile's default action."""
    RULE = "rule"
    """An unconditional rule of the profile."""
    ARGUMENTS = "arguments"
    """Argument rules: the branches decide."""
    STUB = "stub"
    """runc's ENOSYS stub: numbered above the highest call the profile names."""
    ABI = "abi"
    """The filter does not cover the call's ABI: its bad-architecture action."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Explanation:
    """The verdict for one syscall on one ABI."""

    name: str
    number: int
    action: Action | None
    """What every call gets; None when it depends on the arguments."""
    why: str
    """The reason, for people (rendered from :attr:`reason` and the rule's path)."""
    branches: tuple[Branch, ...] = ()
    """When it depends: the rules tried, the first that matches wins."""
    otherwise: Action | None = None
    """When it depends: what a call matching no branch gets."""
    dropped: tuple[Dropped, ...] = ()
    """Rules naming this call that the runtime left out, and why."""
    reason: Reason = Reason.DEFAULT

    @property
    def verdict(self) -> str:
        return "depends on arguments" if self.action is None else describe(self.action)

    def decide(self, args: tuple[int, ...]) -> Action:
        """What a call with these six arguments gets."""
        if self.action is not None:
            return self.action
        for b in self.branches:
            if all(c.matches(args[c.index]) for c in b.conditions):
                return b.action
        assert self.otherwise is not None
        return self.otherwise


def describe(action: Action) -> str:
    """``allow``, ``errno EPERM (1)``, ``kill thread`` ... for people."""
    kind = action.kind
    if kind == RET.ERRNO:
        err = min(action.data, 4095)  # seccomp(2): the kernel caps it at MAX_ERRNO
        return f"errno {_errno.errorcode.get(err, str(err))} ({err})"
    words = {RET.ALLOW: "allow", RET.LOG: "allow (logged)", RET.KILL_THREAD: "kill thread",
             RET.KILL_PROCESS: "kill process", RET.TRAP: "trap (SIGSYS)",
             RET.USER_NOTIF: "notify the supervisor"}
    if kind == RET.TRACE:
        return f"trace (ENOSYS when no tracer; data {action.data})"
    return words.get(kind, str(action))


_OP_TEXT = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def condition_text(c: ArgCmp) -> str:
    if c.op is Op.MASKED_EQ:
        return f"(arg{c.index} & {c.mask:#x}) == {c.value:#x}"
    return f"arg{c.index} {_OP_TEXT[c.op]} {c.value:#x}"


def policy_for(translation: Translation, abi: Arch) -> ArchPolicy:
    for p in translation.filter.policies:
        if p.arch == abi:
            return p
    raise LookupError(f"the filter has no policy for {abi.name}")


def _where(translation: Translation, name: str, rule_action: Action,
           conditions: tuple[ArgCmp, ...]) -> str:
    outcome = translation.outcomes.get(name)
    for where, rule in outcome.rules if outcome else ():
        if rule.action == rule_action and rule.conditions == conditions:
            return where
    return "a rule"


def _one(translation: Translation, policy: ArchPolicy, name: str, nr: int) -> Explanation:
    outcome = translation.outcomes.get(name)
    dropped = outcome.dropped if outcome else ()
    if policy.above is not None and nr > policy.above[0]:
        limit = policy.above[0]
        try:
            top = lookup(limit, policy.arch).name
        except LookupError:
            top = str(limit)
        return Explanation(name, nr, policy.above[1],
                           f"runc's ENOSYS stub: above {limit} ({top}), the highest number "
                           "the profile names", dropped=dropped, reason=Reason.STUB)
    rules = policy.outcome(nr)
    branches: list[Branch] = []
    for rule in rules:
        where = _where(translation, name, rule.action, rule.conditions)
        if not rule.conditions:
            if not branches:
                return Explanation(name, nr, rule.action, where, dropped=dropped,
                                   reason=Reason.RULE)
            return Explanation(name, nr, None, "argument rules", tuple(branches), rule.action,
                               dropped, Reason.ARGUMENTS)
        branches.append(Branch(rule.conditions, rule.action, where))
    if branches:
        return Explanation(name, nr, None, "argument rules", tuple(branches), policy.default,
                           dropped, Reason.ARGUMENTS)
    why = "the default action"
    if dropped:
        why += " (" + "; ".join(map(str, dropped)) + ")"
    return Explanation(name, nr, policy.default, why, dropped=dropped)


def explain(translation: Translation, abi: Arch, names: list[str] | None = None,
            ) -> list[Explanation]:
    """Explanations for *names* (syscall names or numbers), default every call of *abi*.

    Raises ValueError for a name the table does not know or that *abi* lacks.
    """
    try:
        policy = policy_for(translation, abi)
    except LookupError:
        bad = translation.filter.bad_arch
        policy = ArchPolicy(abi, bad)
        why = f"the filter does not cover {abi.name}: {describe(bad)} for every call"
        return [replace(e, why=why, reason=Reason.ABI)
                for e in explain(replace(translation, filter=Filter((policy,), bad)), abi,
                                 names)]
    if names is None:
        return [_one(translation, policy, sc.name, sc.number) for sc in syscalls(abi)]
    result = []
    for name in names:
        if name.isdigit():
            nr = int(name)
            try:
                label = lookup(nr, abi).name
            except LookupError:
                label = f"#{nr}"
            result.append(_one(translation, policy, label, nr))
            continue
        try:
            sc = lookup(name, abi)
        except LookupError:
            if known(name):
                raise ValueError(f"{name} does not exist on {abi.name}") from None
            raise ValueError(f"unknown syscall {name!r}") from None
        result.append(_one(translation, policy, sc.name, sc.number))
    return result


def _signature(e: Explanation) -> tuple[object, ...]:
    branches = tuple((b.conditions, b.action) for b in e.branches)
    return (e.action, branches, e.otherwise)


def differences(a: Translation, b: Translation, abi: Arch,
                ) -> list[tuple[Explanation, Explanation]]:
    """The calls of *abi* whose verdict (or argument branches) differ between *a* and *b*."""
    return [(x, y) for x, y in zip(explain(a, abi), explain(b, abi), strict=True)
            if _signature(x) != _signature(y)]
