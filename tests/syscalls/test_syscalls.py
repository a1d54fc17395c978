"""The syscall table: generated module, lookups, ABIs, and an independent cross-check."""

from __future__ import annotations

import subprocess
import sys

import pytest

import seccompat.syscalls as S
from seccompat.syscalls import ARCHES, X32_SYSCALL_BIT, arch, lookup, parse_version

from ..kernel import ROOT


def test_committed_table_matches_the_generator() -> None:
    done = subprocess.run([sys.executable, "tools/gen_syscalls.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_table_covers_eighteen_abis_and_linux_7_1() -> None:
    assert len({a.table for a in ARCHES.values()}) == 18
    assert S.TABLE_KERNEL == (7, 1)
    assert len(S.names()) == 508


@pytest.mark.parametrize(("name", "abi", "number", "since"), [
    ("read", "x86_64", 0, (3, 0)),
    ("faccessat2", "x86_64", 439, (5, 8)),
    ("clone3", "x86_64", 435, (5, 3)),
    ("close_range", "aarch64", 436, (5, 9)),
    ("faccessat2", "riscv64", 439, (5, 8)),  # the PR data says 3.0 here
    ("getrandom", "aarch64", 278, (3, 17)),  # likewise
    ("faccessat2", "loongarch64", 439, (5, 19)),  # the ABI itself is from 5.19
    ("riscv_hwprobe", "riscv64", 258, (6, 4)),
    ("openat", "x86", 295, (3, 0)),
    ("read", "x32", X32_SYSCALL_BIT | 0, (3, 4)),
    ("read", "mips", 4003, (3, 0)),
    ("read", "mips64", 5000, (3, 0)),
    ("read", "mips64n32", 6000, (3, 0)),
    ("file_setattr", "x86_64", 469, (6, 17)),
    ("uprobe", "x86_64", 336, (6, 18)),
    ("listns", "s390x", 470, (6, 19)),
    ("rseq_slice_yield", "x86_64", 471, (7, 0)),
    ("set_tls", "arm", 0x0F0005, (3, 0)),
])
def test_lookup_by_name_and_number(name: str, abi: str, number: int,
                                   since: tuple[int, int]) -> None:
    sc = lookup(name, abi)
    assert (sc.number, sc.since, sc.arch) == (number, since, abi)
    assert lookup(number, abi) == sc


def test_unified_range_numbers_agree_on_every_abi() -> None:
    # From 424 on, every ABI (without its base) uses the same number.
    for name in ("pidfd_send_signal", "clone3", "openat2", "faccessat2", "mseal", "listns"):
        raw = set()
        for a in ARCHES.values():
            try:
                raw.add(lookup(name, a).number - (a.nr_base if a.nr_base != X32_SYSCALL_BIT
                                                  else X32_SYSCALL_BIT))
            except LookupError:
                continue
        assert len(raw) == 1, (name, raw)


def test_versions_are_never_before_the_abi_existed() -> None:
    for a in ARCHES.values():
        for sc in S.syscalls(a):
            assert sc.since >= a.birth, sc


def test_unknown_names_suggest_a_close_match() -> None:
    with pytest.raises(LookupError, match="did you mean 'faccessat2'"):
        lookup("faccesat2")
    with pytest.raises(LookupError, match="does not exist on aarch64"):
        lookup("uretprobe", "aarch64")
    with pytest.raises(LookupError, match="start at 4000"):
        lookup(3, "mips")
    with pytest.raises(LookupError, match="start at 0x40000000"):
        lookup(0, "x32")
    with pytest.raises(TypeError):
        lookup(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown architecture"):
        lookup("read", "vax")


def test_arch_spellings_and_audit_values() -> None:
    assert arch("SCMP_ARCH_X86_64") is arch("amd64") is ARCHES["x86_64"]
    assert S.AUDIT_ARCH["x86_64"] == 0xC000003E
    assert S.AUDIT_ARCH["x86"] == 0x40000003
    assert S.AUDIT_ARCH["x32"] == 0xC000003E
    assert S.AUDIT_ARCH["aarch64"] == 0xC00000B7
    assert S.AUDIT_ARCH["riscv64"] == 0xC00000F3
    assert S.AUDIT_ARCH["s390x"] == 0x80000016
    assert S.AUDIT_ARCH["ppc64le"] == 0xC0000015
    assert S.AUDIT_ARCH["mipsel64n32"] == 0xE0000008
    assert S.AUDIT_ARCH["sh"] == 0x4000002A


def test_native_arch_and_kernel_version() -> None:
    import os
    import platform

    native = S.native_arch()
    if platform.machine() == "x86_64" and sys.maxsize > 2**32:
        assert native.name == "x86_64"
    assert S.kernel_version() == parse_version(os.uname().release)


@pytest.mark.parametrize(("text", "expected"), [
    ("5.4", (5, 4)), ("6.8.0-45-generic", (6, 8)), ("4.19.112+", (4, 19)), (" 7.0 ", (7, 0)),
])
def test_parse_version(text: str, expected: tuple[int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("bad", ["5", "five.four", "", "5.x", "-5.4"])
def test_parse_version_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="not a kernel version"):
        parse_version(bad)


# The PyPI package system-calls (kernel 7.2 tables, independent of libseccomp).
_THEIRS = {"x86": "i386", "x86_64": "x86_64", "x32": "x32", "arm": "arm", "aarch64": "arm64",
           "loongarch64": "loongarch64", "m68k": "m68k", "mips": "mipso32",
           "mips64": "mips64", "mips64n32": "mips64n32", "parisc": "parisc", "ppc": "powerpc",
           "ppc64": "powerpc64", "riscv64": "riscv64", "s390": "s390", "s390x": "s390x",
           "sh": "sh"}
# Names only they have: a spelling difference (libseccomp says arm_sync_file_range)
# and a call wired up on loongarch64 after v7.1.
_ONLY_THEIRS = {("arm", "sync_file_range2"), ("loongarch64", "memfd_secret")}
# Names only we have are numbers libseccomp keeps for removed or never-implemented
# calls (nfsservctl, _sysctl, afs_syscall ...); the kernel tables drop them.
_RETIRED = {"_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime",
            "get_kernel_syms", "getpmsg", "gtty", "idle", "lock", "mpx", "nfsservctl",
            "prof", "profil", "putpmsg", "query_module", "security", "stty", "tuxcall",
            "ulimit", "uselib", "vserver", "arm_sync_file_range"}


def test_numbers_agree_with_the_system_calls_package() -> None:
    system_calls = pytest.importorskip("system_calls")
    theirs_all = system_calls.syscalls()
    disagreements, only_ours, only_theirs = [], set(), set()
    for ours, name in _THEIRS.items():
        theirs = theirs_all.load_arch_table(name)
        mine = {sc.name: sc.number for sc in S.syscalls(ours)}
        for call, number in mine.items():
            if call not in theirs:
                only_ours.add(call)
            elif theirs[call] != number:
                disagreements.append(f"{ours} {call}: ours {number}, theirs {theirs[call]}")
        only_theirs |= {(ours, c) for c in theirs if c not in mine}
    assert disagreements == [], "\n".join(disagreements)
    assert only_ours <= _RETIRED, sorted(only_ours - _RETIRED)
    assert only_theirs <= _ONLY_THEIRS, sorted(only_theirs - _ONLY_THEIRS)
