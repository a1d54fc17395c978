"""A genuine EPERM is never emulated: the probe's verdict, confirmed by the
filters' own answer to the real arguments."""


from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action

from ..kernel import (
    immutable_file,
    in_child,
    reachable_dir,
)
from .modes import MODES, filters_usable, outcome, run_mode

# --- genuine EPERM is never emulated --------------------------------------------

@pytest.mark.parametrize("others_filtered", [False, True])
def test_genuine_eperm_matrix(others_filtered: bool, root: None) -> None:
    if others_filtered and not filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    rules = {"memfd_create": Action.errno(1)} if others_filtered else None
    pidfd = classify("pidfd_open").status.value == "available"

    def body(path: str, other: str) -> list[Any]:
        out = [outcome(lambda: c.faccessat2(path, os.W_OK, flags=c.AT_EACCESS))]
        fd_in = os.open(other, os.O_RDONLY)
        fd_out = os.open(path, os.O_RDONLY)  # immutable: no write open; EBADF then
        out.append(outcome(lambda: c.copy_file_range(fd_in, fd_out, 1)))
        os.close(fd_out)
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        out.append(outcome(lambda: c.fchmodat2(other, 0o600)))
        out.append(outcome(lambda: c.pidfd_send_signal(c.pidfd_open(1), 0)))
        return out

    with reachable_dir() as base:
        other = base / "other"
        other.write_text("data")
        with immutable_file(base) as path:
            got = in_child(body, str(path), str(other)) if rules is None else \
                in_child(body, str(path), str(other), rules=rules)
            result = got.get()
    assert result[0] == ("PermissionError", errno.EPERM, str(path))
    assert result[1][1] == errno.EBADF  # kernel checks the open mode before anything
    assert result[2] == ("PermissionError", errno.EPERM, str(other))
    # Signalling another user's process is a genuine EPERM; without pidfds (an
    # outer filter) the honest answer is "unavailable", never an emulation.
    assert result[3][:2] == (("PermissionError", errno.EPERM) if pidfd
                             else ("SyscallUnavailable", errno.ENOSYS))


# Genuine EPERMs under a filter keyed on the probe's own substitutes (fd -1, NULL):
# the probe gets the filter's EPERM, the real call the kernel's.  Only the filters'
# answer for the real call's own arguments can tell them apart.
_GENUINE: dict[str, tuple[str, bool]] = {
    # case: (syscall, as nobody)
    "faccessat2-immutable": ("faccessat2", False),
    "access-immutable": ("faccessat2", False),
    "fchmodat2-not-owner": ("fchmodat2", True),
    "fchmodat2-immutable": ("fchmodat2", False),
    "renameat2-immutable": ("renameat2", False),
    "renameat2-sticky": ("renameat2", True),
    "copy_file_range-immutable": ("copy_file_range", False),
    "openat2-noatime": ("openat2", True),
    "openat2-immutable-write": ("openat2", False),
}


def _needs_the_oracle(name: str) -> None:
    from seccompat._oracle import filter_oracle

    answer = filter_oracle(name)
    if answer.kind == "unavailable":
        pytest.skip(f"no exact oracle here ({answer.detail}): the probe's verdict stands, "
                    "the documented residual")


def _genuine_case(case: str, base: str, frozen: str) -> tuple[Any, bool]:
    from seccompat.calls import _kernel

    other = os.path.join(base, "other")  # root's 0644 file in a 1777 directory
    if _GENUINE[case][1]:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    calls: dict[str, Callable[[], Any]] = {
        "faccessat2-immutable": lambda: c.faccessat2(frozen, os.W_OK, flags=c.AT_EACCESS),
        "access-immutable": lambda: c.access(frozen, os.W_OK, effective_ids=True) or
        c.faccessat2(frozen, os.W_OK),
        "fchmodat2-not-owner": lambda: c.fchmodat2(other, 0o600),
        "fchmodat2-immutable": lambda: c.fchmodat2(frozen, 0o600),
        "renameat2-immutable": lambda: c.renameat2(frozen, frozen + ".new", c.RENAME_NOREPLACE),
        "renameat2-sticky": lambda: c.renameat2(other, other + ".new", c.RENAME_NOREPLACE),
        "copy_file_range-immutable": lambda: c.copy_file_range(
            os.open(other, os.O_RDONLY), int(os.environ["SECCOMPAT_TEST_FD"]), 4),
        "openat2-noatime": lambda: c.openat2(other, os.O_RDONLY | os.O_NOATIME),
        "openat2-immutable-write": lambda: c.openat2(frozen, os.O_WRONLY),
    }
    got = outcome(calls[case])[:2]
    return got, _GENUINE[case][0] in _kernel._doomed()


@pytest.mark.parametrize("keyed", [0, 1], ids=["arg0-is-minus-1", "arg1-is-NULL"])
@pytest.mark.parametrize("case", list(_GENUINE))
def test_a_filter_keyed_on_the_probes_arguments_never_makes_a_genuine_eperm_emulated(
        case: str, keyed: int, root: None) -> None:
    from seccompat.bpf import ArgCmp, Filter, Op, Rule

    from ..kernel import FS_IMMUTABLE_FL, _flags

    name = _GENUINE[case][0]
    if classify(name).status.value != "available":
        pytest.skip(f"{name} is already refused here (an outer filter): falling back is right")
    _needs_the_oracle(name)
    if name == "copy_file_range" and keyed == 1:
        keyed = 2  # its arg1 is NULL in the real call too: key on the probe's fd_out
    value = 0 if keyed == 1 else 2**64 - 1
    rule = Rule(Action.errno(errno.EPERM), (ArgCmp(keyed, Op.EQ, value),))
    flt = Filter.simple(Action.allow(), {name: [rule]})
    with reachable_dir(0o1777) as base:
        other = base / "other"
        other.write_text("data")
        other.chmod(0o644)
        with immutable_file(base) as frozen:
            dst = os.open(base / "dst", os.O_WRONLY | os.O_CREAT, 0o644)
            flag_fd = os.open(base / "dst", os.O_RDONLY)
            _flags(flag_fd, _flags(flag_fd) | FS_IMMUTABLE_FL)
            os.environ["SECCOMPAT_TEST_FD"] = str(dst)
            try:
                got, fell_back = in_child(_genuine_case, case, str(base), str(frozen),
                                          filter=flt).get()
            finally:
                del os.environ["SECCOMPAT_TEST_FD"]
                _flags(flag_fd, _flags(flag_fd) & ~FS_IMMUTABLE_FL)
                os.close(flag_fd)
                os.close(dst)
    assert got == ("PermissionError", errno.EPERM)
    assert not fell_back, "the wrapper took its fallback after a genuine EPERM"


def test_without_ptrace_the_oracle_still_answers_the_real_registers(root: None) -> None:
    """Where the filters refuse ptrace, the oracle's TRACE rule with no tracer still
    shows an EPERM as itself: a filter keyed on the probe's own arguments (so the
    probe says "filtered") is not confirmed for the real call, whose EPERM is then
    reported as the kernel's; a filter that refuses the real registers is."""
    from seccompat.bpf import ArgCmp, Filter, Op, Rule

    def body(frozen: str) -> tuple[Any, str]:
        from seccompat._classifier import cached

        got = outcome(lambda: c.faccessat2(frozen, os.W_OK, flags=c.AT_EACCESS))[:2]
        verdict = cached("faccessat2 (confirmed)", (-100, 1, os.W_OK, c.AT_EACCESS))
        return got, verdict.evidence if verdict else ""

    if classify("faccessat2").status.value != "available":
        pytest.skip("faccessat2 is already refused here (an outer filter)")
    keyed = Rule(Action.errno(errno.EPERM), (ArgCmp(0, Op.EQ, 2**64 - 1),))
    for rules, confirmed in (
            ({"faccessat2": [keyed], "ptrace": Action.errno(1)}, False),
            ({"faccessat2": Action.errno(errno.EPERM), "ptrace": Action.errno(1)}, True)):
        flt = Filter.simple(Action.allow(), rules)  # type: ignore[arg-type]
        with reachable_dir() as base, immutable_file(base) as frozen:
            got, evidence = in_child(body, str(frozen), filter=flt).get()
        assert got == ("PermissionError", errno.EPERM)
        if confirmed:
            assert "answers EPERM to these very arguments" in evidence
        else:
            assert evidence == ""  # not the filters' EPERM: no fallback ran


def test_copy_into_an_immutable_file_is_eperm(tmp_path: Path, root: None) -> None:
    def body(src: str, dst_fd: int) -> Any:
        fd = os.open(src, os.O_RDONLY)
        return outcome(lambda: c.copy_file_range(fd, dst_fd, 4))

    src = tmp_path / "src"
    src.write_text("data")
    dst = tmp_path / "dst"
    dst.write_text("")
    dst_fd = os.open(dst, os.O_WRONLY)  # opened before the flag: writes then get EPERM
    try:
        from ..kernel import FS_IMMUTABLE_FL, _flags

        flag_fd = os.open(dst, os.O_RDONLY)
        _flags(flag_fd, _flags(flag_fd) | FS_IMMUTABLE_FL)
        try:
            for mode in MODES:
                assert run_mode(mode, body, str(src), dst_fd)[:2] == \
                    ("PermissionError", errno.EPERM), mode
        finally:
            _flags(flag_fd, _flags(flag_fd) & ~FS_IMMUTABLE_FL)
            os.close(flag_fd)
    finally:
        os.close(dst_fd)
