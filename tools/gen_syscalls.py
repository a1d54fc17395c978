#!/usr/bin/env python3
"""Generate ``src/seccompat/syscalls/_table.py`` from the libseccomp syscall tables.

Usage::

    python tools/gen_syscalls.py            # rewrite the committed module
    python tools/gen_syscalls.py --check    # exit 1 if the committed module is stale
    python tools/gen_syscalls.py --report   # print every correction applied

Inputs (``--corpus DIR``, default ``tools/data/syscalls``, with their MANIFEST):

* ``libseccomp-syscalls.csv``: syscall numbers for 18 ABIs, Linux v7.1-rc4.  Numbers
  are taken from here unchanged (no MIPS base, no x32 bit: ``arch.py`` adds them).
* ``libseccomp-syscalls-pr457-kver.csv``: the first kernel version per ABI
  (libseccomp PR #457, generated from v6.16).  Its data is corrected as follows:

  1. The generic-table ABIs that appeared after 3.0 (aarch64 3.7, riscv64 4.15,
     loongarch64 5.19) say ``3_0`` for "since the ABI exists", even for calls added
     in 5.x.  Such a cell becomes max(ABI birth, the call's introduction), where
     the introduction is the earliest version the call has on any other ABI.  A
     call that exists on no other ABI takes its version from ``ARCH_PRIVATE``.
  2. x32 appeared in 3.4; earlier cells are raised to 3.4.
  3. A cell with a number but no version (PNR in the PR's older table) takes the
     call's introduction, or the ABI birth for ABI-private calls.
  4. Calls newer than v6.16 are not in the PR at all; ``NEWER`` gives them, with
     the evidence for each.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "seccompat" / "syscalls" / "_table.py"
DEFAULT_CORPUS = ROOT / "tools" / "data" / "syscalls"

Version = tuple[int, int]

#: Kernel release in which each generic-table or late ABI appeared.
BIRTH: dict[str, Version] = {"aarch64": (3, 7), "riscv64": (4, 15), "loongarch64": (5, 19),
                             "x32": (3, 4)}
LATE = ("aarch64", "riscv64", "loongarch64")

#: ABI-private calls of the late ABIs whose PR cell says 3.0.
ARCH_PRIVATE: dict[str, Version] = {
    "riscv_flush_icache": (4, 15),  # with the riscv port
    "riscv_hwprobe": (6, 4),  # commit ea3de9ce8aa2, "RISC-V: Add a syscall for HW probing"
}

#: Calls added after v6.16, the release the PR's table was generated from.
NEWER: dict[str, Version] = {
    # file_getattr/file_setattr: merged for 6.17 (vfs-6.17 "fileattr" pull).
    "file_getattr": (6, 17),
    "file_setattr": (6, 17),
    # uprobe (x86_64 336): absent from the v6.16 table; present on a measured
    # 6.18.44 kernel (ENXIO outside the trampoline, not ENOSYS).
    "uprobe": (6, 18),
    # listns: commit 76b6f5dfb3fd, merged with namespace-6.19-rc1; ENOSYS on 6.18.
    "listns": (6, 19),
    # rseq_slice_yield (471): the time-slice-extension series rebased on
    # v6.19-rc1 and merged for the following release, 7.0.
    "rseq_slice_yield": (7, 0),
}


def _version(cell: str) -> Version | None:
    if not cell.startswith("SCMP_KV_") or cell == "SCMP_KV_UNDEF":
        return None
    major, minor = cell[len("SCMP_KV_"):].split("_")
    return int(major), int(minor)


def _read(path: Path) -> tuple[list[str], str, dict[str, list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    kernel = header[0].split("(v", 1)[1].split(" ", 1)[0]
    return header[1::2], kernel, {row[0]: row for row in rows[1:]}


def build(corpus: Path) -> tuple[str, list[str]]:
    """Return the module text and the list of corrections applied."""
    numbers_csv = corpus / "libseccomp-syscalls.csv"
    kver_csv = corpus / "libseccomp-syscalls-pr457-kver.csv"
    columns, kernel, numbers = _read(numbers_csv)
    kcolumns, _, kvers = _read(kver_csv)
    if columns != kcolumns:
        raise SystemExit("the two CSV files do not have the same columns")
    notes: list[str] = []
    table: dict[str, tuple[tuple[int, int, int] | None, ...]] = {}
    for name in sorted(numbers):
        row = numbers[name]
        krow = kvers.get(name)
        raw = {c: _version(krow[2 + 2 * i]) if krow else None for i, c in enumerate(columns)}
        present = {c: row[1 + 2 * i] for i, c in enumerate(columns) if row[1 + 2 * i] != "PNR"}
        others = [v for c, v in raw.items() if v and c not in LATE and c in present]
        intro = min(others) if others else None
        if name in NEWER:
            if krow is not None:
                raise SystemExit(f"{name} is in the PR table now: drop it from NEWER")
            intro = NEWER[name]
        cells: list[tuple[int, int, int] | None] = []
        for c in columns:
            if c not in present:
                cells.append(None)
                continue
            birth = BIRTH.get(c, (3, 0))
            since = raw[c] if name not in NEWER else intro
            if c in LATE and since == (3, 0):
                base = intro if intro else ARCH_PRIVATE.get(name, birth)
                fixed = max(birth, base)
                if fixed != since:
                    notes.append(f"rule 1: {name} on {c}: 3.0 -> {fixed[0]}.{fixed[1]}")
                since = fixed
            if since is None:
                since = max(birth, intro) if intro else birth
                if name not in NEWER:
                    notes.append(f"rule 3: {name} on {c}: no version -> {since[0]}.{since[1]}")
            if since < birth:
                notes.append(f"rule 2: {name} on {c}: {since[0]}.{since[1]} -> "
                             f"{birth[0]}.{birth[1]}")
                since = birth
            cells.append((int(present[c]), since[0], since[1]))
        table[name] = tuple(cells)
    digest = {p.name: hashlib.sha1(b"blob %d\0" % p.stat().st_size + p.read_bytes()).hexdigest()
              for p in (numbers_csv, kver_csv)}
    def cell(c: tuple[int, int, int] | None) -> str:
        return "-" if c is None else f"{c[0]}@{c[1]}.{c[2]}"

    rows = "\n".join(" ".join([name, *(cell(c) for c in cells)]) for name, cells in table.items())
    text = f'''# Generated by tools/gen_syscalls.py: do not edit; rerun the generator instead.
# ruff: noqa: E501
"""Syscall numbers and first kernel versions for {len(columns)} ABIs (generated).

Sources (git blob SHA-1):
  libseccomp-syscalls.csv            {digest[numbers_csv.name]} (Linux v{kernel})
  libseccomp-syscalls-pr457-kver.csv {digest[kver_csv.name]} (Linux v6.16, corrected)

One line per syscall: its name, then for each column of ``COLUMNS`` either ``-``
(not on that ABI) or ``NUMBER@MAJOR.MINOR`` (table number, first kernel version).
A string, not a dict literal: it compiles in a millisecond, so importing stays
cheap even where bytecode is never cached (PYTHONDONTWRITEBYTECODE).
"""

KERNEL = {kernel!r}

#: libseccomp table columns, in the order of each row below.
COLUMNS: tuple[str, ...] = {tuple(columns)!r}

ROWS = """\\
{rows}
"""
'''
    return text, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--check", action="store_true", help="fail if the module is stale")
    parser.add_argument("--report", action="store_true", help="print the corrections")
    args = parser.parse_args(argv)
    text, notes = build(args.corpus)
    if args.report:
        print("\n".join(notes))
        print(f"{len(notes)} corrections", file=sys.stderr)
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: rerun tools/gen_syscalls.py", file=sys.stderr)
            return 1
        return 0
    if not args.report:
        OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
