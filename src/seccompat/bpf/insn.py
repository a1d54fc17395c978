"""Classic BPF instructions and seccomp return values (``<linux/filter.h>``, seccomp(2)).

A program is a tuple of :class:`Insn`; :func:`pack` gives the bytes the kernel
takes in ``struct sock_fprog``.  ``seccomp_data`` offsets: nr 0, arch 4,
instruction_pointer 8, args[i] 16 + 8*i (each 64 bits, host byte order).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = [
    "ACTION_NAMES",
    "Insn",
    "OFF_ARCH",
    "OFF_ARGS",
    "OFF_NR",
    "RET",
    "action_name",
    "action_precedence",
    "disassemble",
    "pack",
    "unpack",
]

# instruction classes, sizes, modes, ops, sources
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = 0x60, 0x70, 0x80, 0x90, 0xA0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_TAX, BPF_TXA = 0x00, 0x80
BPF_MEMWORDS = 16
BPF_MAXINSNS = 4096

OFF_NR, OFF_ARCH, OFF_IP, OFF_ARGS = 0, 4, 8, 16
SECCOMP_DATA_SIZE = 64


class RET:
    """SECCOMP_RET_* action values (the top 16 bits; the low 16 are data)."""

    KILL_PROCESS = 0x80000000
    KILL_THREAD = 0x00000000
    TRAP = 0x00030000
    ERRNO = 0x00050000
    USER_NOTIF = 0x7FC00000
    TRACE = 0x7FF00000
    LOG = 0x7FFC0000
    ALLOW = 0x7FFF0000
    ACTION_FULL = 0xFFFF0000
    DATA = 0x0000FFFF


ACTION_NAMES = {
    RET.KILL_PROCESS: "KILL_PROCESS",
    RET.KILL_THREAD: "KILL_THREAD",
    RET.TRAP: "TRAP",
    RET.ERRNO: "ERRNO",
    RET.USER_NOTIF: "USER_NOTIF",
    RET.TRACE: "TRACE",
    RET.LOG: "LOG",
    RET.ALLOW: "ALLOW",
}

# Kernel order, most restrictive first (kernel/seccomp.c, seccomp(2) "Filter return
# values"): the action of the lowest rank wins across stacked filters.
_PRECEDENCE = (RET.KILL_PROCESS, RET.KILL_THREAD, RET.TRAP, RET.ERRNO, RET.USER_NOTIF,
               RET.TRACE, RET.LOG, RET.ALLOW)


def action_precedence(value: int) -> int:
    """Rank of a return value: 0 is the most restrictive.  Unknown actions act as
    KILL_PROCESS, as the kernel treats them."""
    action = value & RET.ACTION_FULL
    try:
        return _PRECEDENCE.index(action)
    except ValueError:
        return 0


def action_name(value: int) -> str:
    """``"ERRNO(1)"``, ``"ALLOW"``, ``"TRACE(7)"`` ... for a 32-bit return value."""
    action = value & RET.ACTION_FULL
    name = ACTION_NAMES.get(action, f"UNKNOWN({action:#x})")
    if action in (RET.ERRNO, RET.TRACE, RET.TRAP):
        return f"{name}({value & RET.DATA})"
    return name


class Insn(NamedTuple):
    """One ``struct sock_filter``."""

    code: int
    jt: int
    jf: int
    k: int


def stmt(code: int, k: int) -> Insn:
    return Insn(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    return Insn(code, jt, jf, k & 0xFFFFFFFF)


_FMT = struct.Struct("=HBBI")


def pack(program: tuple[Insn, ...] | list[Insn]) -> bytes:
    """The program as the kernel's array of ``struct sock_filter``."""
    return b"".join(_FMT.pack(*insn) for insn in program)


def unpack(data: bytes) -> tuple[Insn, ...]:
    """Inverse of :func:`pack` (e.g. for libseccomp's ``seccomp_export_bpf``)."""
    if len(data) % _FMT.size:
        raise ValueError(f"BPF program length {len(data)} is not a multiple of {_FMT.size}")
    return tuple(Insn(*_FMT.unpack_from(data, i)) for i in range(0, len(data), _FMT.size))


_JMP_NAMES = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}
_ALU_NAMES = {BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div", BPF_OR: "or",
              BPF_AND: "and", BPF_LSH: "lsh", BPF_RSH: "rsh", BPF_NEG: "neg", BPF_MOD: "mod",
              BPF_XOR: "xor"}


def disassemble(program: tuple[Insn, ...] | list[Insn]) -> str:
    """A readable listing, one instruction a line, with absolute jump targets."""
    lines = []
    for pc, (code, jt, jf, k) in enumerate(program):
        cls = code & 0x07
        if cls == BPF_LD and code & 0xE0 == BPF_ABS:
            text = f"ld [{k}]"
        elif cls == BPF_LD and code & 0xE0 == BPF_MEM:
            text = f"ld M[{k}]"
        elif cls == BPF_LD and code & 0xE0 == BPF_IMM:
            text = f"ld #{k:#x}"
        elif cls == BPF_LDX:
            text = f"ldx M[{k}]" if code & 0xE0 == BPF_MEM else f"ldx #{k:#x}"
        elif cls == BPF_ST:
            text = f"st M[{k}]"
        elif cls == BPF_STX:
            text = f"stx M[{k}]"
        elif cls == BPF_ALU:
            op = _ALU_NAMES.get(code & 0xF0, "alu?")
            text = f"{op} x" if code & BPF_X else f"{op} #{k:#x}"
        elif cls == BPF_JMP and code & 0xF0 == BPF_JA:
            text = f"ja {pc + 1 + k}"
        elif cls == BPF_JMP:
            op = _JMP_NAMES.get(code & 0xF0, "j?")
            src = "x" if code & BPF_X else f"#{k:#x}"
            text = f"{op} {src}, {pc + 1 + jt}, {pc + 1 + jf}"
        elif cls == BPF_RET:
            text = "ret a" if code & 0x18 == BPF_A else f"ret {action_name(k)}"
        else:
            text = "tax" if code & 0xF8 == BPF_TAX else "txa"
        lines.append(f"{pc:4d}: {text}")
    return "\n".join(lines)
