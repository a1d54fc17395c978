"""Run a seccomp BPF program on a ``seccomp_data`` without the kernel.

:func:`validate` applies the checks the kernel makes when a filter is loaded
(``bpf_check_classic`` and ``seccomp_check_filter`` in net/core/filter.c and
kernel/seccomp.c): forward jumps in range, a final ``ret``, only 32-bit aligned
loads inside ``seccomp_data``, no division by a constant zero, scratch memory
written before it is read.  :func:`run` then executes the program exactly as the
kernel's classic-BPF interpreter would, so any program (ours or libseccomp's) can be
checked for a verdict with no filter installed.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from ..errors import SeccompatError
from .insn import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_DIV,
    BPF_IMM,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_LSH,
    BPF_MAXINSNS,
    BPF_MEM,
    BPF_MEMWORDS,
    BPF_MISC,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    SECCOMP_DATA_SIZE,
    Insn,
)

__all__ = ["InvalidProgram", "SeccompData", "run", "validate"]

_M32 = 0xFFFFFFFF


class InvalidProgram(SeccompatError, ValueError):
    """The kernel would refuse to load this program (EINVAL)."""


@dataclass(frozen=True)
class SeccompData:
    """``struct seccomp_data``: what a filter sees of one syscall."""

    nr: int
    arch: int
    instruction_pointer: int = 0
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0)

    def __post_init__(self) -> None:
        if len(self.args) != 6:
            raise ValueError(f"seccomp_data has 6 arguments, not {len(self.args)}")

    def pack(self, little_endian: bool = sys.byteorder == "little") -> bytes:
        fmt = ("<" if little_endian else ">") + "iIQ6Q"
        args = [a & 0xFFFFFFFFFFFFFFFF for a in self.args]
        return struct.pack(fmt, self.nr if self.nr < 2**31 else self.nr - 2**32,
                           self.arch, self.instruction_pointer & 0xFFFFFFFFFFFFFFFF, *args)


_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH,
            BPF_NEG, BPF_MOD, BPF_XOR)


def validate(program: tuple[Insn, ...] | list[Insn]) -> None:
    """Raise :class:`InvalidProgram` where the kernel would return EINVAL."""
    n = len(program)
    if not 0 < n <= BPF_MAXINSNS:
        raise InvalidProgram(f"program length {n} is outside 1..{BPF_MAXINSNS}")
    for pc, (code, jt, jf, k) in enumerate(program):
        cls = code & 0x07
        where = f"instruction {pc}"
        if cls == BPF_LD:
            mode = code & 0xE0
            if code == BPF_LD | BPF_W | BPF_ABS:
                if k >= SECCOMP_DATA_SIZE or k & 3:
                    raise InvalidProgram(f"{where}: load at offset {k} outside seccomp_data "
                                         "or unaligned")
            elif code in (BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM):
                pass
            elif code == BPF_LD | BPF_MEM:
                if k >= BPF_MEMWORDS:
                    raise InvalidProgram(f"{where}: scratch slot {k} out of range")
            else:
                raise InvalidProgram(f"{where}: load mode {mode:#x} not allowed in seccomp")
        elif cls == BPF_LDX:
            if code not in (BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM, BPF_LDX | BPF_W | BPF_LEN):
                raise InvalidProgram(f"{where}: ldx mode not allowed in seccomp")
            if code == BPF_LDX | BPF_MEM and k >= BPF_MEMWORDS:
                raise InvalidProgram(f"{where}: scratch slot {k} out of range")
        elif cls in (BPF_ST, BPF_STX):
            if k >= BPF_MEMWORDS:
                raise InvalidProgram(f"{where}: scratch slot {k} out of range")
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op not in _ALU_OPS:
                raise InvalidProgram(f"{where}: unknown ALU operation {op:#x}")
            if op in (BPF_DIV, BPF_MOD) and not code & BPF_X and k == 0:
                raise InvalidProgram(f"{where}: division by constant zero")
            if op in (BPF_LSH, BPF_RSH) and not code & BPF_X and k >= 32:
                raise InvalidProgram(f"{where}: shift by {k}")
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                if k >= n - pc - 1:
                    raise InvalidProgram(f"{where}: ja past the end")
            elif op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET):
                if pc + 1 + jt >= n or pc + 1 + jf >= n:
                    raise InvalidProgram(f"{where}: jump past the end")
            else:
                raise InvalidProgram(f"{where}: unknown jump {op:#x}")
        elif cls == BPF_RET and code & 0x18 not in (0x00, BPF_A):
            raise InvalidProgram(f"{where}: ret source not allowed")
        elif cls == BPF_MISC and code & 0xF8 not in (BPF_TAX, BPF_TXA):
            raise InvalidProgram(f"{where}: unknown misc operation")
    if program[-1].code & 0x07 != BPF_RET:
        raise InvalidProgram("the last instruction is not a ret")
    _check_memory(program)


def _check_memory(program: tuple[Insn, ...] | list[Insn]) -> None:
    # Forward data flow over the DAG: the set of scratch slots written on every
    # path into each instruction (kernel: check_load_and_stores()).
    n = len(program)
    full = (1 << BPF_MEMWORDS) - 1
    written = [full] * n
    written[0] = 0
    for pc, (code, jt, jf, k) in enumerate(program):
        cls = code & 0x07
        have = written[pc]
        if (code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM)) and not have >> k & 1:
            raise InvalidProgram(f"instruction {pc}: scratch slot {k} read before written")
        if cls in (BPF_ST, BPF_STX):
            have |= 1 << k
        if cls == BPF_RET:
            continue
        if cls == BPF_JMP:
            targets = [pc + 1 + k] if code & 0xF0 == BPF_JA else [pc + 1 + jt, pc + 1 + jf]
        else:
            targets = [pc + 1]
        for t in targets:
            written[t] &= have


def run(program: tuple[Insn, ...] | list[Insn], data: SeccompData,
        little_endian: bool = sys.byteorder == "little", checked: bool = True) -> int:
    """The 32-bit value the program returns for *data* (validated first unless
    *checked* is False)."""
    if checked:
        validate(program)
    raw = data.pack(little_endian)
    fmt = "<I" if little_endian else ">I"
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        pc += 1
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS:
                a = struct.unpack_from(fmt, raw, k)[0]
            elif mode == BPF_LEN:
                a = SECCOMP_DATA_SIZE
            elif mode == BPF_MEM:
                a = mem[k]
            else:
                a = k
        elif cls == BPF_LDX:
            x = mem[k] if code & 0xE0 == BPF_MEM else SECCOMP_DATA_SIZE \
                if code & 0xE0 == BPF_LEN else k
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            a = _alu(code & 0xF0, a, x if code & BPF_X else k)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += k
                continue
            operand = x if code & BPF_X else k
            if op == BPF_JEQ:
                taken = a == operand
            elif op == BPF_JGT:
                taken = a > operand
            elif op == BPF_JGE:
                taken = a >= operand
            else:
                taken = bool(a & operand)
            pc += jt if taken else jf
        elif cls == BPF_RET:
            return a if code & 0x18 == BPF_A else k
        elif code & 0xF8 == BPF_TAX:
            x = a
        else:
            a = x


def _alu(op: int, a: int, v: int) -> int:
    if op == BPF_ADD:
        return (a + v) & _M32
    if op == BPF_SUB:
        return (a - v) & _M32
    if op == BPF_MUL:
        return (a * v) & _M32
    if op == BPF_DIV:
        return a // v if v else 0  # the interpreter returns 0 for a runtime X == 0
    if op == BPF_MOD:
        return a % v if v else 0
    if op == BPF_OR:
        return a | v
    if op == BPF_AND:
        return a & v
    if op == BPF_XOR:
        return a ^ v
    if op == BPF_LSH:
        return (a << (v & 31)) & _M32
    if op == BPF_RSH:
        return a >> (v & 31)
    return (-a) & _M32  # BPF_NEG
