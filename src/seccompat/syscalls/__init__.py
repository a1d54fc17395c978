"""The syscall table: numbers per ABI and the kernel version that added each call.

One table feeds everything else: probes, the classifier, the filter compiler and the
CLI.  Numbers are *raw* numbers, exactly what ``seccomp_data.nr`` carries (MIPS ABI
base and the x32 bit included); see syscall(2) and syscalls(2).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from . import _table
from .arch import ARCHES, X32_SYSCALL_BIT, Arch, arch, native_arch, number_text

__all__ = [
    "AUDIT_ARCH",
    "ARCHES",
    "Arch",
    "Syscall",
    "TABLE_KERNEL",
    "X32_SYSCALL_BIT",
    "arch",
    "find",
    "kernel_version",
    "known",
    "lookup",
    "names",
    "native_arch",
    "number_text",
    "parse_version",
    "syscalls",
]

#: Kernel release the table was generated from.
TABLE_KERNEL: tuple[int, int] = tuple(int(x) for x in _table.KERNEL.split("-")[0].split(".")[:2])  # type: ignore[assignment]

#: AUDIT_ARCH_* value per ABI name, as in ``<linux/audit.h>``.
AUDIT_ARCH: dict[str, int] = {name: a.audit_arch for name, a in ARCHES.items()}

_COLUMN = {c: i for i, c in enumerate(_table.COLUMNS)}
_resolve_arch = arch  # ``lookup`` has a parameter called ``arch``


@dataclass(frozen=True, order=True)
class Syscall:
    """One syscall on one ABI: ``number`` is the raw number, ``since`` (major, minor)."""

    name: str
    number: int
    arch: str
    since: tuple[int, int]


@cache
def _rows() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(line.split(" ")) for line in _table.ROWS.splitlines())


@cache
def _names() -> frozenset[str]:
    return frozenset(row[0] for row in _rows())


@cache
def _by_name(arch_name: str) -> dict[str, Syscall]:
    """Parse one column of the table: name -> Syscall on that ABI."""
    a = ARCHES[arch_name]
    column = 1 + _COLUMN[a.table]
    out = {}
    for row in _rows():
        cell = row[column]
        if cell == "-":
            continue
        number, version = cell.split("@")
        major, minor = version.split(".")
        out[row[0]] = Syscall(row[0], a.raw_number(int(number)), a.name, (int(major), int(minor)))
    return out


@cache
def _by_number(arch_name: str) -> dict[int, Syscall]:
    return {sc.number: sc for sc in _by_name(arch_name).values()}


def syscalls(arch_name: str | Arch | None = None) -> list[Syscall]:
    """Every syscall of an ABI (default: this process's), sorted by number."""
    a = arch(arch_name)
    return sorted(_by_name(a.name).values(), key=lambda s: s.number)


@cache
def names() -> tuple[str, ...]:
    """Every syscall name the table knows, on any ABI, sorted."""
    return tuple(row[0] for row in _rows())


def known(name: str) -> bool:
    """Whether *name* is a syscall on any ABI of the table."""
    return name in _names()


def find(name: str, arch: str | Arch | None = None) -> Syscall | None:
    """The syscall *name* on an ABI (default: this process's), or None: a dictionary
    lookup, for callers that resolve many names (lookup() explains a miss)."""
    return _by_name(_resolve_arch(arch).name).get(name)


def lookup(name_or_number: str | int, arch: str | Arch | None = None) -> Syscall:
    """Find a syscall by name or raw number on an ABI (default: this process's).

    Raises ``LookupError`` for a name or number the ABI does not have, with a
    close-match suggestion for misspelt names, and ``TypeError`` for other types.
    """
    a = _resolve_arch(arch)
    if isinstance(name_or_number, bool) or not isinstance(name_or_number, (str, int)):
        raise TypeError(f"syscall must be a name or a number, not {type(name_or_number).__name__}")
    if isinstance(name_or_number, int):
        try:
            return _by_number(a.name)[name_or_number]
        except KeyError:
            hint = ""
            if a.nr_base and 0 <= name_or_number < a.nr_base:
                base = hex(a.nr_base) if a.nr_base == X32_SYSCALL_BIT else str(a.nr_base)
                hint = f" ({a.name} numbers start at {base})"
            raise LookupError(f"no syscall number {name_or_number} on {a.name}{hint}") from None
    try:
        return _by_name(a.name)[name_or_number]
    except KeyError:
        pass
    if known(name_or_number):
        raise LookupError(f"syscall {name_or_number!r} does not exist on {a.name}")
    lowered = name_or_number.lower()  # FACCESSAT2, Clone3: names are lower case
    close = [lowered] if known(lowered) else difflib.get_close_matches(
        lowered, names(), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise LookupError(f"unknown syscall {name_or_number!r}{hint}")


_VERSION = re.compile(r"^(\d+)\.(\d+)(?:[.\-+~_].*)?$")


def parse_version(text: str) -> tuple[int, int]:
    """Parse ``"5.4"``, ``"6.8.0-45-generic"`` ... into ``(major, minor)``.

    Raises ``ValueError`` for anything else.
    """
    if not isinstance(text, str):
        raise TypeError(f"version must be a str, not {type(text).__name__}")
    m = _VERSION.match(text.strip())
    if not m:
        raise ValueError(f"not a kernel version: {text!r} (expected MAJOR.MINOR, e.g. 5.4)")
    return int(m.group(1)), int(m.group(2))


@lru_cache(maxsize=1)
def kernel_version() -> tuple[int, int]:
    """The running kernel's (major, minor), from uname(2)."""
    return parse_version(os.uname().release)
