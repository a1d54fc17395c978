"""Compile a :class:`~seccompat.bpf.ir.Filter` to classic BPF for seccomp(2).

Program shape::

    ld [arch]; jeq AUDIT_ARCH_1 -> section 1; ...; ret bad_arch
    section: ld [nr]
             (x86_64/x32 share an AUDIT_ARCH: jge nr, 0x40000000 splits them, or
              sends the ABI the filter does not cover to bad_arch)
             binary search over number intervals -> outcome
    outcome: ret ACTION, or a chain of argument tests in ArchPolicy.outcome's order

The syscall numbers are cut into maximal intervals of equal outcome (gaps get the
default), and a balanced tree of ``jge`` picks the interval: depth
ceil(log2(intervals)), whatever the rule count.

The assembler writes the program backwards, so every jump target already exists
and its distance is known; a target more than 255 instructions away is reached
through a ``ja`` trampoline (or a fresh copy of a ``ret``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SeccompatError
from ..syscalls import arch
from .insn import (
    BPF_ABS,
    BPF_ALU,
    BPF_AND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_MAXINSNS,
    BPF_RET,
    BPF_W,
    OFF_ARCH,
    OFF_ARGS,
    OFF_NR,
    Insn,
    jump,
    stmt,
)
from .ir import ArchPolicy, ArgCmp, Filter, Op, Rule

__all__ = ["CompileError", "compile_filter", "dispatch_depth"]

X32_BIT = 0x40000000
SKIP_NR = 0xFFFFFFFF  # syscall number -1, as seccomp_data.nr holds it
_AUDIT_X86_64 = arch("x86_64").audit_arch  # shared by the x86_64 and x32 ABIs
_LD_ABS = BPF_LD | BPF_W | BPF_ABS
_RET_K = BPF_RET | BPF_K


class CompileError(SeccompatError, ValueError):
    """The filter cannot be encoded (for example, more than 4096 instructions:
    ``size`` is then the count it would need)."""

    def __init__(self, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class _Assembler:
    """Builds a program from its end; a label is an index into the reversed list."""

    def __init__(self) -> None:
        self.rev: list[Insn] = []
        self._rets: dict[int, int] = {}

    def emit(self, insn: Insn) -> int:
        self.rev.append(insn)
        return len(self.rev) - 1

    def ret(self, value: int) -> int:
        label = self._rets.get(value)
        if label is None:
            label = self._rets[value] = self.emit(stmt(_RET_K, value))
        return label

    def goto(self, target: int) -> int:
        """A label that continues at *target* from the next instruction emitted."""
        distance = len(self.rev) - target - 1
        if distance == 0:
            return target
        insn = self.rev[target]
        if insn.code == _RET_K:
            return self.emit(insn)  # a copy is as short as a jump to it
        return self.emit(stmt(BPF_JMP | BPF_JA, distance))

    def branch(self, code: int, k: int, true: int, false: int) -> int:
        while True:
            here = len(self.rev)
            if here - true - 1 > 255:
                true = self.goto(true)
            elif here - false - 1 > 255:
                false = self.goto(false)
            else:
                return self.emit(jump(BPF_JMP | code | BPF_K, k, here - true - 1,
                                      here - false - 1))

    def load(self, offset: int, then: int) -> int:
        """``ld [offset]``, continuing at *then*."""
        self.goto(then)
        return self.emit(stmt(_LD_ABS, offset))

    def program(self) -> tuple[Insn, ...]:
        return tuple(reversed(self.rev))


@dataclass(frozen=True)
class _Interval:
    start: int
    label: int


def _arg_offsets(index: int, little_endian: bool) -> tuple[int, int]:
    base = OFF_ARGS + 8 * index
    return (base + 4, base) if little_endian else (base, base + 4)  # (high, low)


def _compare(asm: _Assembler, cmp: ArgCmp, le: bool, true: int, false: int) -> int:
    hi_off, lo_off = _arg_offsets(cmp.index, le)
    hi, lo = cmp.value >> 32, cmp.value & 0xFFFFFFFF
    op = cmp.op
    if cmp.width == 32:  # libseccomp on a 32-bit ABI: the low word alone
        if op is Op.MASKED_EQ:
            asm.branch(BPF_JEQ, lo, true, false)
            asm.emit(stmt(BPF_ALU | BPF_AND | BPF_K, cmp.mask))
        elif op in (Op.EQ, Op.NE):
            asm.branch(BPF_JEQ, lo, *((true, false) if op is Op.EQ else (false, true)))
        else:
            asm.branch(BPF_JGT if op in (Op.GT, Op.LE) else BPF_JGE, lo,
                       *((true, false) if op in (Op.GT, Op.GE) else (false, true)))
        return asm.emit(stmt(_LD_ABS, lo_off))
    if op is Op.MASKED_EQ:
        m_hi, m_lo = cmp.mask >> 32, cmp.mask & 0xFFFFFFFF
        # (arg & mask) == value: a value bit outside the mask can never match.
        asm.branch(BPF_JEQ, lo, true, false)
        asm.emit(stmt(BPF_ALU | BPF_AND | BPF_K, m_lo))
        low = asm.emit(stmt(_LD_ABS, lo_off))
        asm.branch(BPF_JEQ, hi, low, false)
        asm.emit(stmt(BPF_ALU | BPF_AND | BPF_K, m_hi))
        return asm.emit(stmt(_LD_ABS, hi_off))
    if op in (Op.EQ, Op.NE):
        t, f = (true, false) if op is Op.EQ else (false, true)
        asm.branch(BPF_JEQ, lo, t, f)
        low = asm.emit(stmt(_LD_ABS, lo_off))
        asm.branch(BPF_JEQ, hi, low, f)
        return asm.emit(stmt(_LD_ABS, hi_off))
    # Ordered comparisons: GT/GE directly, LT = not GE, LE = not GT.
    strict = op in (Op.GT, Op.LE)
    t, f = (true, false) if op in (Op.GT, Op.GE) else (false, true)
    asm.branch(BPF_JGT if strict else BPF_JGE, lo, t, f)
    low = asm.emit(stmt(_LD_ABS, lo_off))
    equal_hi = asm.branch(BPF_JEQ, hi, low, f)
    asm.branch(BPF_JGT, hi, t, equal_hi)
    return asm.emit(stmt(_LD_ABS, hi_off))


def _rules_block(asm: _Assembler, rules: tuple[Rule, ...], default: int, le: bool) -> int:
    """A chain of rules, tried in order (ArchPolicy.outcome's); falls through to *default*."""
    label = default
    for rule in reversed(rules):
        action = asm.ret(rule.action.value)
        if not rule.conditions:
            label = action  # every rule after an unconditional one is unreachable
            continue
        success = action
        for cond in reversed(rule.conditions):
            success = _compare(asm, cond, le, success, label)
        label = success
    return label


def _intervals(asm: _Assembler, policy: ArchPolicy, lo: int, hi: int) -> list[_Interval]:
    """Cut [lo, hi) into maximal runs of equal outcome, each with its block's label."""
    default = asm.ret(policy.default.value)
    blocks: dict[tuple[Rule, ...], int] = {}
    points = [_Interval(lo, default)]
    for nr in sorted(n for n in policy.rules if lo <= n < hi):
        rules = policy.outcome(nr)
        if not rules:
            continue
        label = blocks.get(rules)
        if label is None:
            if rules[0].conditions:
                label = _rules_block(asm, rules, default, policy.arch.little_endian)
            else:
                label = asm.ret(rules[0].action.value)
            blocks[rules] = label
        if points[-1].start == nr:
            points[-1] = _Interval(nr, label)
        else:
            points.append(_Interval(nr, label))
        if nr + 1 < hi:
            points.append(_Interval(nr + 1, default))
    if policy.above is not None and policy.above[0] + 1 < hi:
        # Everything above the bound gets one action, whatever the rules say.
        limit, action = policy.above
        label = asm.ret(action.value)
        points = [p for p in points if p.start <= limit]
        points.append(_Interval(max(limit + 1, lo), label))
    merged: list[_Interval] = []
    for point in points:
        if not merged or merged[-1].label != point.label:
            merged.append(point)
    return merged


def _tree(asm: _Assembler, intervals: list[_Interval]) -> int:
    if len(intervals) == 1:
        return intervals[0].label
    mid = len(intervals) // 2
    right = _tree(asm, intervals[mid:])
    left = _tree(asm, intervals[:mid])
    return asm.branch(BPF_JGE, intervals[mid].start, right, left)


def _section(asm: _Assembler, policies: list[ArchPolicy], bad_arch: int) -> int:
    """Code for one AUDIT_ARCH value; A holds nothing yet."""
    if policies[0].arch.audit_arch != _AUDIT_X86_64:
        body = _tree(asm, _intervals(asm, policies[0], 0, 2**32))
        return asm.load(OFF_NR, body)
    by_name = {p.arch.name: p for p in policies}
    native = by_name.get("x86_64")
    x32 = by_name.get("x32")
    if x32:
        high = _tree(asm, _intervals(asm, x32, X32_BIT, 2**32))
    elif native:
        # -1 (0xFFFFFFFF) is the kernel's "skip this syscall" number, not an x32
        # call: libseccomp gives it the native default (runc too, whose stub skips
        # numbers with the x32 bit on a native-only filter), never bad_arch.
        high = asm.branch(BPF_JEQ, SKIP_NR, asm.ret(native.default.value), bad_arch)
    else:
        high = bad_arch
    low = _tree(asm, _intervals(asm, native, 0, X32_BIT)) if native else bad_arch
    split = asm.branch(BPF_JGE, X32_BIT, high, low)
    return asm.load(OFF_NR, split)


def compile_filter(flt: Filter) -> tuple[Insn, ...]:
    """The BPF program for *flt*; raises :class:`CompileError` past 4096 instructions."""
    asm = _Assembler()
    bad_arch = asm.ret(flt.bad_arch.value)
    groups: dict[int, list[ArchPolicy]] = {}
    for policy in flt.policies:
        groups.setdefault(policy.arch.audit_arch, []).append(policy)
    sections = [(audit, _section(asm, group, bad_arch)) for audit, group in groups.items()]
    label = bad_arch
    for audit, section in reversed(sections):
        label = asm.branch(BPF_JEQ, audit, section, label)
    asm.load(OFF_ARCH, label)
    program = asm.program()
    if len(program) > BPF_MAXINSNS:
        raise CompileError(f"the filter needs {len(program)} BPF instructions, "
                           f"{len(program) - BPF_MAXINSNS} over the kernel's limit of "
                           f"{BPF_MAXINSNS}", len(program))
    return program


def dispatch_depth(program: tuple[Insn, ...]) -> int:
    """The most conditional jumps any path executes (for the O(log n) benchmark)."""
    depth = [0] * (len(program) + 1)
    for pc in range(len(program) - 1, -1, -1):
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        if cls == 0x06:  # ret
            depth[pc] = 0
        elif cls == BPF_JMP and code & 0xF0 == BPF_JA:
            depth[pc] = depth[pc + 1 + k]
        elif cls == BPF_JMP:
            depth[pc] = 1 + max(depth[pc + 1 + jt], depth[pc + 1 + jf])
        else:
            depth[pc] = depth[pc + 1]
    return depth[0]
