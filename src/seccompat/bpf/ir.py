"""The filter IR: what a seccomp policy says, independent of how it is encoded.

One IR is both compiled (``compile.py``, for the kernel) and emulated (by running
the compiled program in ``emulate.py``), so what we explain and what we install
cannot drift apart.

Semantics when several rules of one syscall match: the most restrictive action
wins (the kernel's own precedence between stacked filters: KILL_PROCESS,
KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW); between two matching
rules of equal precedence, the first listed wins.  An *ordered* policy (what
libseccomp builds from a profile) takes the first matching rule as listed.  A
syscall no rule matches gets the policy's default; an ABI the filter does not
cover gets ``bad_arch``.
"""

from __future__ import annotations

import enum
import errno as _errno
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..syscalls import Arch, arch, lookup
from .insn import RET, action_name, action_precedence

__all__ = ["Action", "ArchPolicy", "ArgCmp", "Filter", "Op", "Rule"]

@dataclass(frozen=True)
class Action:
    """A seccomp action and its 16-bit data (the errno for ERRNO)."""

    value: int

    @staticmethod
    def allow() -> Action:
        return Action(RET.ALLOW)

    @staticmethod
    def log() -> Action:
        return Action(RET.LOG)

    @staticmethod
    def kill_process() -> Action:
        return Action(RET.KILL_PROCESS)

    @staticmethod
    def kill_thread() -> Action:
        return Action(RET.KILL_THREAD)

    @staticmethod
    def trap(data: int = 0) -> Action:
        return Action(RET.TRAP | _data(data))

    @staticmethod
    def errno(err: int) -> Action:
        """ERRNO(err); the kernel caps the returned value at MAX_ERRNO (4095)."""
        return Action(RET.ERRNO | _data(err))

    @staticmethod
    def trace(data: int = 0) -> Action:
        return Action(RET.TRACE | _data(data))

    @staticmethod
    def user_notif() -> Action:
        return Action(RET.USER_NOTIF)

    @staticmethod
    def parse(text: str) -> Action:
        """``"allow"``, ``"kill"``, ``"kill-thread"``, ``"trap"``, ``"log"``,
        ``"errno"`` (EPERM), ``"errno:ENOSYS"``, ``"errno:38"``, ``"trace:7"``."""
        kind, _, arg = text.strip().lower().partition(":")
        kind = kind.replace("_", "-")
        simple = {"allow": Action.allow, "log": Action.log, "kill": Action.kill_process,
                  "kill-process": Action.kill_process, "kill-thread": Action.kill_thread,
                  "notify": Action.user_notif, "user-notif": Action.user_notif}
        if kind in simple and not arg:
            return simple[kind]()
        if kind == "errno":
            return Action.errno(parse_errno(arg or "EPERM"))
        if kind in ("trap", "trace"):
            data = int(arg, 0) if arg else 0
            return Action.trap(data) if kind == "trap" else Action.trace(data)
        raise ValueError(f"unknown action {text!r} (allow, errno[:E], kill, kill-thread, "
                         "trap, log, trace, notify)")

    @property
    def kind(self) -> int:
        return self.value & RET.ACTION_FULL

    @property
    def data(self) -> int:
        return self.value & RET.DATA

    @property
    def precedence(self) -> int:
        return action_precedence(self.value)

    def __str__(self) -> str:
        return action_name(self.value)


def _data(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"action data must be int, not {type(value).__name__}")
    if not 0 <= value <= RET.DATA:
        raise ValueError(f"action data {value} out of range 0..65535")
    return value


def parse_errno(text: str | int) -> int:
    """``"EPERM"``, ``"enosys"``, ``"38"`` or 38 -> the errno number (1..65535)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str):
        name = text.strip().upper()
        if name.isdigit():
            value = int(name)
        elif hasattr(_errno, name) and name.startswith("E"):
            value = getattr(_errno, name)
        else:
            raise ValueError(f"unknown errno {text!r} (a name like EPERM or a number)")
    else:
        raise TypeError(f"errno must be a name or a number, not {type(text).__name__}")
    if not 0 < value <= RET.DATA:
        raise ValueError(f"errno {value} out of range 1..65535")
    return value


class Op(str, enum.Enum):
    """Argument comparisons, as in libseccomp and the OCI runtime spec."""

    EQ = "EQ"
    NE = "NE"
    LT = "LT"
    LE = "LE"
    GT = "GT"
    GE = "GE"
    MASKED_EQ = "MASKED_EQ"


@dataclass(frozen=True)
class ArgCmp:
    """``args[index] OP value`` on the full 64-bit argument (unsigned), or with
    *width* 32 on its low word only, as libseccomp compares on a 32-bit ABI (x86,
    x32, arm ...: the upper words of seccomp_data's arguments are not looked at).

    MASKED_EQ is ``(args[index] & mask) == value``.
    """

    index: int
    op: Op
    value: int
    mask: int = 0xFFFFFFFFFFFFFFFF
    width: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise ValueError(f"argument index {self.index} out of range 0..5")
        if self.width not in (32, 64):
            raise ValueError(f"comparison width {self.width}: 32 or 64")
        for what, v in (("value", self.value), ("mask", self.mask)):
            if not 0 <= v < 1 << self.width:
                raise ValueError(f"comparison {what} {v} out of range 0..2**{self.width}-1")

    def matches(self, arg: int) -> bool:
        """Evaluate on a 64-bit argument value (the reference semantics)."""
        a, op, value = arg & ((1 << self.width) - 1), self.op, self.value
        if op is Op.EQ:
            return a == value
        if op is Op.NE:
            return a != value
        if op is Op.MASKED_EQ:
            return a & self.mask == value
        if op is Op.LT:
            return a < value
        if op is Op.LE:
            return a <= value
        if op is Op.GT:
            return a > value
        return a >= value


@dataclass(frozen=True)
class Rule:
    """An action for one syscall, taken when every comparison holds (AND)."""

    action: Action
    conditions: tuple[ArgCmp, ...] = ()


@dataclass(frozen=True)
class ArchPolicy:
    """The rules for one ABI: raw syscall number -> rules, and the default action."""

    arch: Arch
    default: Action
    rules: Mapping[int, tuple[Rule, ...]] = field(default_factory=dict)
    above: tuple[int, Action] | None = None
    """``(n, action)``: every number above *n* gets *action* (runc's ENOSYS stub)."""
    ordered: bool = False
    """The first matching rule as listed wins (not the most restrictive)."""

    def outcome(self, nr: int) -> tuple[Rule, ...]:
        """The rules for *nr* in the order they are tried (empty: the default applies)."""
        rules = self.rules.get(nr, ())
        if self.ordered:
            return tuple(rules)
        return tuple(sorted(rules, key=lambda r: r.action.precedence))

    def decide(self, nr: int, args: tuple[int, ...] = (0,) * 6) -> Action:
        """The action the policy gives (reference semantics for the emulator tests)."""
        if self.above is not None and nr > self.above[0]:
            return self.above[1]
        for rule in self.outcome(nr):
            if all(c.matches(args[c.index]) for c in rule.conditions):
                return rule.action
        return self.default


@dataclass(frozen=True)
class Filter:
    """A whole filter: one policy per ABI, and the action for other ABIs."""

    policies: tuple[ArchPolicy, ...]
    bad_arch: Action = field(default_factory=Action.kill_process)

    def __post_init__(self) -> None:
        names = [p.arch.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError(f"an ABI appears twice in one filter: {names}")
        audits: dict[int, list[Arch]] = {}
        for p in self.policies:
            audits.setdefault(p.arch.audit_arch, []).append(p.arch)
        for group in audits.values():
            if len(group) > 1 and sorted(a.name for a in group) != ["x32", "x86_64"]:
                raise ValueError(f"ABIs share an AUDIT_ARCH: {[a.name for a in group]}")

    @staticmethod
    def simple(
        default: Action,
        rules: Mapping[str, Action | Iterable[Rule]] | Mapping[int, Action | Iterable[Rule]]
        | Mapping[str | int, Action | Iterable[Rule]],
        arches: Iterable[str | Arch] | None = None,
        bad_arch: Action | None = None,
        missing: str = "error",
    ) -> Filter:
        """Build a filter from syscall names (or raw numbers) on one or more ABIs.

        *rules* maps a name to an :class:`Action` or to a list of :class:`Rule`.
        A name absent from an ABI is an error, unless *missing* is ``"skip"``.
        """
        policies = []
        for a in [arch(x) for x in arches] if arches else [arch(None)]:
            table: dict[int, tuple[Rule, ...]] = {}
            for key, value in rules.items():
                try:
                    nr = lookup(key, a).number if isinstance(key, str) else key
                except LookupError:
                    if missing == "skip":
                        continue
                    raise
                new = (Rule(value),) if isinstance(value, Action) else tuple(value)
                table[nr] = table.get(nr, ()) + new
            policies.append(ArchPolicy(a, default, table))
        return Filter(tuple(policies), bad_arch or Action.kill_process())

    def decide(self, arch_value: int, nr: int, args: tuple[int, ...] = (0,) * 6) -> Action:
        """Reference semantics for one ``seccomp_data``."""
        shared = arch("x86_64").audit_arch
        for p in self.policies:
            if p.arch.audit_arch != arch_value:
                continue
            is_x32_nr = nr & 0x40000000 != 0
            if p.arch.audit_arch == shared and (p.arch.name == "x32") != is_x32_nr:
                continue
            return p.decide(nr, args)
        native = next((p for p in self.policies if p.arch.name == "x86_64"), None)
        if arch_value == shared and nr == 0xFFFFFFFF and native is not None:
            return native.default  # -1, the "skip" number: as libseccomp, not bad_arch
        return self.bad_arch

