"""Architectures: table columns, AUDIT_ARCH values and syscall-number bases.

A syscall number as the kernel sees it in ``seccomp_data.nr`` is the table number
plus an ABI base: 0x40000000 (``__X32_SYSCALL_BIT``) on x32, 4000/5000/6000 on MIPS
o32/n64/n32.  Everything in seccompat that talks to the kernel uses that *raw*
number; the table column keeps the number without the base.

AUDIT_ARCH values are ``EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`` from
``<linux/audit.h>`` and ``<linux/elf-em.h>``; see seccomp(2), "struct seccomp_data".
"""

from __future__ import annotations

import ctypes
import os
import sys
import sysconfig
from dataclasses import dataclass

from ..errors import UnsupportedMachine

__all__ = [
    "ARCHES",
    "Arch",
    "X32_SYSCALL_BIT",
    "number_text",
    "arch",
    "native_arch",
]

_AUDIT_64BIT = 0x80000000
_AUDIT_LE = 0x40000000
_AUDIT_CONVENTION_MIPS64_N32 = 0x20000000

X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True)
class Arch:
    """One syscall ABI: its name, table column, AUDIT_ARCH and number base."""

    name: str
    table: str
    audit_arch: int
    bits: int
    little_endian: bool
    nr_base: int = 0
    birth: tuple[int, int] = (3, 0)

    @property
    def long_bits(self) -> int:
        """The width of a C long: 32 on MIPS n32 too (ILP32 on a 64-bit AUDIT_ARCH).
        libseccomp compares syscall arguments at this width."""
        return 32 if self.table == "mips64n32" else self.bits

    def raw_number(self, table_number: int) -> int:
        """The number seccomp_data.nr carries for a table number of this ABI."""
        if self.nr_base and 0 <= table_number < 0x0F0000:
            return table_number + self.nr_base
        return table_number


def _a(
    name: str,
    table: str,
    em: int,
    bits: int,
    le: bool,
    base: int = 0,
    birth: tuple[int, int] = (3, 0),
    extra: int = 0,
) -> Arch:
    audit = em | (_AUDIT_64BIT if bits == 64 else 0) | (_AUDIT_LE if le else 0) | extra
    return Arch(name, table, audit, bits, le, base, birth)


_EM_386, _EM_X86_64, _EM_ARM, _EM_AARCH64 = 3, 62, 40, 183
_EM_LOONGARCH, _EM_68K, _EM_MIPS, _EM_PARISC = 258, 4, 8, 15
_EM_PPC, _EM_PPC64, _EM_RISCV, _EM_S390, _EM_SH = 20, 21, 243, 22, 42

#: Every ABI we know, keyed by name.  The first name per table column is the
#: libseccomp column name; the others are byte-order variants sharing its numbers.
ARCHES: dict[str, Arch] = {
    a.name: a
    for a in (
        _a("x86", "x86", _EM_386, 32, True),
        _a("x86_64", "x86_64", _EM_X86_64, 64, True),
        # x32 shares AUDIT_ARCH_X86_64; its calls carry the x32 bit (merged in 3.4).
        Arch("x32", "x32", _EM_X86_64 | _AUDIT_64BIT | _AUDIT_LE, 32, True,
             X32_SYSCALL_BIT, (3, 4)),
        _a("arm", "arm", _EM_ARM, 32, True),
        _a("aarch64", "aarch64", _EM_AARCH64, 64, True, birth=(3, 7)),
        _a("loongarch64", "loongarch64", _EM_LOONGARCH, 64, True, birth=(5, 19)),
        _a("m68k", "m68k", _EM_68K, 32, False),
        _a("mips", "mips", _EM_MIPS, 32, False, 4000),
        _a("mipsel", "mips", _EM_MIPS, 32, True, 4000),
        _a("mips64", "mips64", _EM_MIPS, 64, False, 5000),
        _a("mipsel64", "mips64", _EM_MIPS, 64, True, 5000),
        _a("mips64n32", "mips64n32", _EM_MIPS, 64, False, 6000,
           extra=_AUDIT_CONVENTION_MIPS64_N32),
        _a("mipsel64n32", "mips64n32", _EM_MIPS, 64, True, 6000,
           extra=_AUDIT_CONVENTION_MIPS64_N32),
        _a("parisc", "parisc", _EM_PARISC, 32, False),
        _a("parisc64", "parisc64", _EM_PARISC, 64, False),
        _a("ppc", "ppc", _EM_PPC, 32, False),
        _a("ppc64", "ppc64", _EM_PPC64, 64, False),
        _a("ppc64le", "ppc64", _EM_PPC64, 64, True),
        _a("riscv64", "riscv64", _EM_RISCV, 64, True, birth=(4, 15)),
        _a("s390", "s390", _EM_S390, 32, False),
        _a("s390x", "s390x", _EM_S390, 64, False),
        _a("sh", "sh", _EM_SH, 32, True),
        _a("sheb", "sh", _EM_SH, 32, False),
    )
}

# The ``machine`` field of uname(2) for each table column this library can run on.
_MACHINE = {
    "x86_64": "x86_64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
    "aarch64": "aarch64", "arm64": "aarch64",
    "loongarch64": "loongarch64",
    "m68k": "m68k",
    "mips": "mips", "mips64": "mips64",
    "parisc": "parisc", "parisc64": "parisc64",
    "ppc": "ppc", "ppc64": "ppc64", "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390": "s390", "s390x": "s390x",
    "sh": "sh", "sh4": "sh", "sh4a": "sh",
}


def number_text(nr: int) -> str:
    """A raw syscall number as seccompat prints it: an x32 number as
    ``0x40000000|547`` (its bit, then the table number), every other in decimal."""
    if nr & X32_SYSCALL_BIT and nr < 2 * X32_SYSCALL_BIT:
        return f"0x40000000|{nr & ~X32_SYSCALL_BIT}"
    return str(nr)


def arch(name: str | Arch | None = None) -> Arch:
    """Return the :class:`Arch` called *name* (libseccomp or ``SCMP_ARCH_*`` spelling).

    ``None`` means the architecture of the running interpreter.
    """
    if isinstance(name, Arch):
        return name
    if name is None:
        return native_arch()
    if not isinstance(name, str):
        raise TypeError(f"arch must be a str, not {type(name).__name__}")
    key = name.lower()
    if key.startswith("scmp_arch_"):
        key = key[len("scmp_arch_"):]
    key = {"amd64": "x86_64", "i386": "x86", "i686": "x86", "arm64": "aarch64"}.get(key, key)
    try:
        return ARCHES[key]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; known: {', '.join(ARCHES)}"
        ) from None


def _detect() -> Arch:
    machine = os.uname().machine
    pointer_bits = ctypes.sizeof(ctypes.c_void_p) * 8
    little = sys.byteorder == "little"
    if machine == "x86_64" and pointer_bits == 32:
        # A 32-bit interpreter on a 64-bit kernel: i386, or x32 (ILP32 on x86-64).
        multiarch = sysconfig.get_config_var("MULTIARCH") or ""
        return ARCHES["x32" if multiarch.endswith("gnux32") else "x86"]
    if machine.startswith("arm") and machine != "arm64":
        return ARCHES["arm"]
    if machine.startswith("mips"):
        if pointer_bits == 32 and machine.startswith("mips64"):
            return ARCHES["mipsel64n32" if little else "mips64n32"]
        base = "mips64" if pointer_bits == 64 else "mips"
        return ARCHES[base.replace("mips", "mipsel") if little else base]
    if machine == "aarch64" and pointer_bits == 32:
        return ARCHES["arm"]
    if machine in ("ppc64", "ppc64le") and pointer_bits == 32:
        return ARCHES["ppc"]
    if machine == "s390x" and pointer_bits == 32:
        return ARCHES["s390"]
    try:
        return ARCHES[_MACHINE[machine]]
    except KeyError:
        raise UnsupportedMachine(f"unsupported machine {machine!r}") from None


_NATIVE: Arch | None = None


def native_arch() -> Arch:
    """The ABI of this interpreter process (uname(2) machine plus pointer size)."""
    global _NATIVE
    if _NATIVE is None:
        _NATIVE = _detect()
    return _NATIVE
