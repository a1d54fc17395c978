"""The safe wrappers: the same assertions through the kernel and through every fallback.

Each semantic test runs in three modes: ``kernel`` (in a child, no extra filter),
``eperm`` (a real filter answering EPERM for the new calls: the fallbacks run) and
``enosys`` (the same with ENOSYS).  ``make test`` also runs this file under
``seccompat run --deny-newer-than 3.16`` (EPERM and ENOSYS), where the outer
filter itself forces the fallbacks; the modes that need to install a filter skip
there when seccomp(2) is denied.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import signal
import stat
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action

from .kernel import (
    bind_read_only,
    immutable_file,
    in_child,
    mount_tmpfs,
    private_mount_namespace,
    reachable_dir,
    remount_read_only,
    umount,
)

NEW_CALLS = ["faccessat2", "statx", "close_range", "copy_file_range", "getrandom",
             "fchmodat2", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "renameat2",
             "memfd_create"]
MODES = ["kernel", "eperm", "enosys"]


@functools.cache
def _filters_usable() -> bool:
    """Whether this process can stack a filter (seccomp(2), or prctl(2) when an outer
    filter refuses seccomp with ENOSYS or a classified EPERM): tried once, in a child."""
    from seccompat.bpf import Filter

    return in_child(lambda: True, filter=Filter.simple(Action.allow(), {})).error is None


def run_mode(mode: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a child: with no extra filter, or with the new calls filtered."""
    if mode == "kernel":
        return in_child(fn, *args).get()
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2): the outer filter is the fallback test")
    err = errno.EPERM if mode == "eperm" else errno.ENOSYS
    return in_child(fn, *args, rules=dict.fromkeys(NEW_CALLS, Action.errno(err))).get()


def outcome(fn: Callable[[], Any]) -> Any:
    """A comparable result: the value, or (exception class name, errno, filename)."""
    try:
        return ("ok", fn())
    except OSError as exc:
        return (type(exc).__name__, exc.errno, exc.filename)


# --- access / faccessat2 -------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "readable").write_text("x")
    (tmp_path / "readable").chmod(0o644)
    (tmp_path / "script").write_text("#!/bin/sh\n")
    (tmp_path / "script").chmod(0o755)
    (tmp_path / "noexec").write_text("x")
    (tmp_path / "noexec").chmod(0o644)
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("readable")
    (tmp_path / "dangling").symlink_to("nowhere")
    return tmp_path


def _access_matrix(root: str) -> list[Any]:
    out = []
    for name in ACCESS_NAMES:
        for mode in ACCESS_MODES:
            for eff in (False, True):
                for follow in (True, False):
                    out.append(c.access(os.path.join(root, name), mode, effective_ids=eff,
                                        follow_symlinks=follow))
    return out


def _expected_access(root: str) -> list[bool]:
    """From access(2) alone (old enough for any filter under test): with equal real
    and effective ids the effective answer is the same, and a symlink itself
    (mode 0777) grants every mode when not followed."""
    out = []
    for name in ACCESS_NAMES:
        path = os.path.join(root, name)
        for mode in ACCESS_MODES:
            for _eff in (False, True):
                for follow in (True, False):
                    if not follow and os.path.islink(path):
                        out.append(True)
                    else:
                        out.append(os.access(path, mode))
    return out


ACCESS_NAMES = ("readable", "script", "noexec", "dir", "link", "dangling", "missing")
ACCESS_MODES = (os.F_OK, os.R_OK, os.W_OK, os.X_OK, os.R_OK | os.X_OK)


@pytest.mark.parametrize("mode", MODES)
def test_access_matrix(mode: str, tree: Path) -> None:
    if (os.getuid(), os.getgid()) != (os.geteuid(), os.getegid()):
        pytest.skip("the expected answers assume equal real and effective ids")
    assert run_mode(mode, _access_matrix, str(tree)) == _expected_access(str(tree))


def _faccessat2_errors(root: str) -> list[Any]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return [
            outcome(lambda: c.faccessat2(os.path.join(root, "missing"), os.R_OK)),
            outcome(lambda: c.faccessat2(os.path.join(root, "readable", "x"), os.R_OK)),
            outcome(lambda: c.faccessat2(os.path.join(root, "readable"), 8)),
            outcome(lambda: c.faccessat2(os.path.join(root, "readable"), 0, flags=0x8000)),
            outcome(lambda: c.faccessat2("readable", os.R_OK, dir_fd=fd)),
            outcome(lambda: c.faccessat2(b"readable", os.R_OK, dir_fd=fd,
                                         flags=c.AT_EACCESS)),
            outcome(lambda: c.faccessat2(Path(root) / "link", os.R_OK,
                                         flags=c.AT_SYMLINK_NOFOLLOW)),
            outcome(lambda: c.faccessat2("", os.R_OK, dir_fd=fd, flags=c.AT_EMPTY_PATH)),
        ]
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", MODES)
def test_faccessat2_errors_are_the_kernels(mode: str, tree: Path) -> None:
    root = str(tree)
    assert run_mode(mode, _faccessat2_errors, root) == [
        ("FileNotFoundError", errno.ENOENT, os.path.join(root, "missing")),
        ("NotADirectoryError", errno.ENOTDIR, os.path.join(root, "readable", "x")),
        ("OSError", errno.EINVAL, os.path.join(root, "readable")),
        ("OSError", errno.EINVAL, os.path.join(root, "readable")),
        ("ok", None), ("ok", None), ("ok", None), ("ok", None)]


# Differential: random trees and callers, kernel answer vs emulation, in one child.

_CALLERS = [
    # (ruid, euid, rgid, egid, groups, extra effective capabilities)
    (1000, 1000, 1000, 1000, [2000], ()),
    (1001, 1001, 1001, 1001, [], ()),
    (1000, 1001, 1000, 1001, [2000], ()),
    (1001, 1000, 2000, 1000, [1000], ()),
    (1000, 1000, 1000, 1000, [], ("CAP_DAC_OVERRIDE",)),
    (1000, 1000, 1000, 1000, [], ("CAP_DAC_READ_SEARCH",)),
    (0, 0, 0, 0, [], None),  # root with everything
]
_CAP_NUMBERS = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2}


def _acl_blob(entries: list[tuple[int, int, int]]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in sorted(entries))


@st.composite
def _trees(draw: st.DrawFn) -> list[dict[str, Any]]:
    nodes = []
    for i in range(draw(st.integers(1, 4))):
        acl = None
        if draw(st.booleans()):
            mode = draw(st.integers(0, 0o777))
            entries = [(0x01, mode >> 6 & 7, 0xFFFFFFFF), (0x04, mode >> 3 & 7, 0xFFFFFFFF),
                       (0x20, mode & 7, 0xFFFFFFFF)]
            for uid in draw(st.lists(st.sampled_from([1000, 1001]), unique=True)):
                entries.append((0x02, draw(st.integers(0, 7)), uid))
            for gid in draw(st.lists(st.sampled_from([1000, 2000]), unique=True)):
                entries.append((0x08, draw(st.integers(0, 7)), gid))
            if any(t in (0x02, 0x08) for t, _, _ in entries):
                entries.append((0x10, draw(st.integers(0, 7)), 0xFFFFFFFF))
            acl = _acl_blob(entries)
        nodes.append({
            "name": f"n{i}",
            "dir_mode": draw(st.sampled_from([0o755, 0o700, 0o711, 0o750, 0o701])),
            "dir_owner": draw(st.sampled_from([0, 1000, 1001])),
            "mode": draw(st.integers(0, 0o777)),
            "uid": draw(st.sampled_from([0, 1000, 1001])),
            "gid": draw(st.sampled_from([0, 1000, 1001, 2000])),
            "acl": acl,
            "immutable": draw(st.integers(0, 5)) == 0,
            "symlink": draw(st.booleans()),
        })
    return nodes


def _capset(effective: int, permitted: int) -> None:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)(effective, permitted, 0, 0, 0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _compare_as(caller: tuple[Any, ...], paths: list[str]) -> list[tuple[Any, ...]]:
    """As *caller*: the kernel's answers, then (EPERM filter installed) the fallback's."""
    from seccompat.bpf import Filter, compile_filter, install

    ruid, euid, rgid, egid, groups, caps = caller
    if caps is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(8, 1, 0, 0, 0)  # PR_SET_KEEPCAPS
        os.setgroups(groups)
        os.setresgid(rgid, egid, egid)
        os.setresuid(ruid, euid, euid)
        wanted = 0
        for cap in caps:
            wanted |= 1 << _CAP_NUMBERS[cap]
        _capset(wanted, wanted)
    all_flags = (0, c.AT_EACCESS, c.AT_SYMLINK_NOFOLLOW, c.AT_EACCESS | c.AT_SYMLINK_NOFOLLOW)
    cases: list[tuple[str, str, int, int]] = [
        ("faccessat2", p, m, f) for p in paths for m in range(8) for f in all_flags]
    # statx, and fchmodat2 to the mode the file already has (no change, but every
    # check: search permission, ownership, immutability, symlinks), both ways.
    cases += [(call, p, 0, follow) for p in paths for call in ("statx", "fchmodat2")
              for follow in (1, 0)]

    def check(call: str, p: str, m: int, f: int) -> Any:
        if call == "faccessat2":
            return outcome(lambda: c.faccessat2(p, m, flags=f))
        if call == "statx":
            r = outcome(lambda: c.statx(p, follow_symlinks=bool(f)))
            return r if r[0] != "ok" else (r[1].stx_mode, r[1].stx_ino, r[1].stx_uid)
        try:
            same = stat.S_IMODE(os.stat(p, follow_symlinks=bool(f)).st_mode)
        except OSError as exc:
            return ("stat", exc.errno)
        return outcome(lambda: c.fchmodat2(p, same, follow_symlinks=bool(f)))

    def answers(which: tuple[str, ...]) -> list[Any]:
        return [check(*case) if case[0] in which else None for case in cases]

    def blocked(*names: str) -> None:
        install(compile_filter(Filter.simple(Action.allow(), dict.fromkeys(
            names, Action.errno(1)))))

    kernel = answers(("faccessat2", "statx", "fchmodat2"))
    blocked("faccessat2")  # statx still tells the emulation the immutable flag
    emulated = answers(("faccessat2",))
    blocked("statx", "fchmodat2")
    emulated = [e if case[0] == "faccessat2" else e2 for case, e, e2 in zip(
        cases, emulated, answers(("statx", "fchmodat2")), strict=True)]
    wrong: list[Any] = [(case, k, e) for case, k, e in zip(cases, kernel, emulated, strict=True)
                        if k != e]
    # Without statx, an unreadable file's immutable flag is unknown: the emulation may
    # deny with EACCES where the kernel says EPERM or grants, but never grants more.
    for case, k, e in zip(cases, kernel, answers(("faccessat2",)), strict=True):
        if case[0] == "faccessat2" and k != e and not (
                e[:2] == ("PermissionError", errno.EACCES) and case[2] & os.W_OK):
            wrong.append(("without statx", case, k, e))
    return wrong


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nodes=_trees(), caller=st.sampled_from(_CALLERS))
def test_emulation_agrees_with_the_kernel(tmp_path: Path, nodes: list[dict[str, Any]],
                                          caller: tuple[Any, ...]) -> None:
    if os.geteuid() != 0:
        pytest.skip("building trees with other owners needs root")
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    with reachable_dir() as base:
        _check_tree(base, nodes, caller)


def _read_only_mounts(base: str, caller: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """In a private mount namespace (gone with this child): a tmpfs whose superblock
    is read-only, and a read-only bind mount of a writable file system.  The kernel
    answers W_OK with EROFS before the permission check for the first
    (sb_permission) and after it for the second (do_faccessat)."""
    private_mount_namespace()
    sb, bind, src = (os.path.join(base, n) for n in ("sb", "bind", "src"))
    for d in (sb, bind, src):
        os.mkdir(d, 0o755)

    def populate(d: str) -> list[str]:
        made = []
        for name, mode in (("f644", 0o644), ("f666", 0o666), ("f600", 0o600)):
            with open(os.path.join(d, name), "w"):
                pass
            os.chmod(os.path.join(d, name), mode)
            made.append(os.path.join(d, name))
        os.mkdir(os.path.join(d, "dir"), 0o755)
        os.symlink("f666", os.path.join(d, "link"))
        return [*made, os.path.join(d, "dir"), os.path.join(d, "link")]

    mount_tmpfs(sb, "mode=755")
    paths = populate(sb)
    remount_read_only(sb)
    paths += populate(src)
    bind_read_only(src, bind)
    paths += [p.replace(src, bind) for p in paths if p.startswith(src)]
    return _compare_as(caller, paths)


@pytest.mark.parametrize("caller", [_CALLERS[0], _CALLERS[4], _CALLERS[6]])
def test_emulation_on_read_only_mounts(caller: tuple[Any, ...]) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    with reachable_dir() as base:
        assert in_child(_read_only_mounts, str(base), caller).get() == []


def _check_tree(base: Path, nodes: list[dict[str, Any]], caller: tuple[Any, ...]) -> None:
    paths, immutables = [], []
    for node in nodes:
        d = base / node["name"]
        d.mkdir()
        f = d / "f"
        f.write_text("x")
        os.chown(f, node["uid"], node["gid"])
        f.chmod(node["mode"])
        if node["acl"] is not None:
            try:
                os.setxattr(f, "system.posix_acl_access", node["acl"])
            except OSError as exc:
                pytest.skip(f"no POSIX ACLs here: {exc}")
        os.chown(d, node["dir_owner"], node["dir_owner"])
        d.chmod(node["dir_mode"])
        target = f
        if node["symlink"]:
            (d / "l").symlink_to("f")
            target = d / "l"
        paths.append(str(target))
        if node["immutable"]:
            immutables.append(f)
    from .kernel import FS_IMMUTABLE_FL, _flags

    fds = []
    try:
        for f in immutables:
            fd = os.open(f, os.O_RDONLY)
            fds.append(fd)
            _flags(fd, _flags(fd) | FS_IMMUTABLE_FL)
        mismatches = in_child(_compare_as, caller, paths).get()
    finally:
        for fd in fds:
            _flags(fd, _flags(fd) & ~FS_IMMUTABLE_FL)
            os.close(fd)
    assert mismatches == []


# --- genuine EPERM is never emulated --------------------------------------------

@pytest.mark.parametrize("others_filtered", [False, True])
def test_genuine_eperm_matrix(others_filtered: bool, root: None) -> None:
    if others_filtered and not _filters_usable():
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

    from .kernel import FS_IMMUTABLE_FL, _flags

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


def test_without_an_exact_oracle_the_probes_verdict_stands(root: None) -> None:
    """The residual assumption, where the filters refuse the oracle (ptrace): the
    probe's verdict decides, and the cached verdict says so."""
    from seccompat.bpf import ArgCmp, Filter, Op, Rule

    def body(frozen: str) -> tuple[Any, str]:
        from seccompat._classifier import cached

        got = outcome(lambda: c.faccessat2(frozen, os.W_OK, flags=c.AT_EACCESS))[:2]
        verdict = cached("faccessat2 (confirmed)", (-100, 1, os.W_OK, c.AT_EACCESS))
        return got, verdict.evidence if verdict else ""

    if classify("faccessat2").status.value != "available":
        pytest.skip("faccessat2 is already refused here (an outer filter)")
    rule = Rule(Action.errno(errno.EPERM), (ArgCmp(0, Op.EQ, 2**64 - 1),))
    rules: dict[str, Action | list[Rule]] = {"faccessat2": [rule], "ptrace": Action.errno(1)}
    flt = Filter.simple(Action.allow(), rules)
    with reachable_dir() as base, immutable_file(base) as frozen:
        got, evidence = in_child(body, str(frozen), filter=flt).get()
    assert got == ("PermissionError", errno.EPERM)  # the emulation's own answer
    assert "no exact oracle here (ptrace: Operation not permitted)" in evidence


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
        from .kernel import FS_IMMUTABLE_FL, _flags

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


# --- statx ---------------------------------------------------------------------

def _statx_fields(path: str) -> tuple[Any, ...]:
    r = c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME)
    nofollow = c.statx(path + ".link", follow_symlinks=False)
    fd = os.open(path, os.O_RDONLY)
    by_fd = c.statx(fd)
    os.close(fd)
    return (r.stx_mask & c.STATX_BASIC_STATS, r.stx_mode, r.stx_ino, r.stx_size, r.stx_nlink,
            r.stx_uid, r.stx_gid, r.stx_mtime_ns, r.stx_ctime_ns, r.stx_dev,
            stat.S_ISLNK(nofollow.stx_mode or 0), by_fd.stx_ino,
            outcome(lambda: c.statx(path + ".missing")), outcome(lambda: c.statx(path, 2**31)))


@pytest.mark.parametrize("mode", MODES)
def test_statx(mode: str, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("hello")
    (tmp_path / "f.link").symlink_to("f")
    st_ = os.stat(f)
    got = run_mode(mode, _statx_fields, str(f))
    assert got[:-2] == (c.STATX_BASIC_STATS, st_.st_mode, st_.st_ino, 5, 1, st_.st_uid,
                        st_.st_gid, st_.st_mtime_ns, st_.st_ctime_ns, st_.st_dev, True,
                        st_.st_ino)
    assert got[-2] == ("FileNotFoundError", errno.ENOENT, str(f) + ".missing")
    assert got[-1] == ("OSError", errno.EINVAL, str(f))


def _statx_scenarios(root: str) -> list[Any]:
    """statx over paths, descriptors and flags: the outcome, with the basic fields and
    the mount id when they were filled."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    path_fd = os.open(os.path.join(root, "f"), os.O_PATH)
    basic, mnt = c.STATX_BASIC_STATS, c.STATX_MNT_ID
    cases: list[tuple[Any, int, dict[str, Any]]] = [
        (os.path.join(root, "f"), basic, {}), (os.path.join(root, "link"), basic, {}),
        (os.path.join(root, "link"), basic, {"follow_symlinks": False}),
        (os.path.join(root, "loop"), basic, {}), (os.path.join(root, "f", "x"), basic, {}),
        ("f", basic, {"dir_fd": fd}), ("", basic, {"dir_fd": fd}),
        ("", basic, {"dir_fd": fd, "flags": 0x1000}), ("f", basic, {"dir_fd": 999_999}),
        (fd, basic, {}), (path_fd, basic | mnt, {}), (999_999, basic, {}),
        (os.path.join(root, "f"), basic, {"flags": 0x6000}),
        (os.path.join(root, "f"), basic, {"flags": 0x2000 | 0x800}),
        (os.path.join(root, "f"), basic | 0x8000_0000, {}),
        (os.path.join(root, "f"), basic, {"flags": 0x4}), ("x" * 5000, basic, {}),
        (os.path.join(root, "f"), mnt, {}), (root, basic | mnt, {}), ("/dev/null", basic, {}),
    ]
    out: list[Any] = []
    for path, mask, kwargs in cases:
        try:
            r = c.statx(path, mask, **kwargs)
        except OSError as exc:
            out.append((type(exc).__name__, exc.errno))
            continue
        out.append((mask, r))
    os.close(fd)
    os.close(path_fd)
    return out


def test_statx_fallback_agrees_with_the_kernel(tmp_path: Path) -> None:
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    if classify("statx").status.value != "available":
        pytest.skip("statx is unavailable here: no kernel answer to compare against")
    (tmp_path / "f").write_text("hello")
    (tmp_path / "link").symlink_to("f")
    (tmp_path / "loop").symlink_to("loop")
    kernel = in_child(_statx_scenarios, str(tmp_path)).get()
    fallback = in_child(_statx_scenarios, str(tmp_path), rules={"statx": Action.errno(1)}).get()
    wrong: list[Any] = []
    for i, (k_case, f_case) in enumerate(zip(kernel, fallback, strict=True)):
        if not isinstance(k_case[1], c.Statx) or not isinstance(f_case[1], c.Statx):
            if k_case != f_case:
                wrong.append((i, k_case, f_case))
            continue
        asked, k, f = k_case[0], k_case[1], f_case[1]
        # The fallback fills the basic fields whenever the kernel does, the mount id
        # when asked (statx(2) lets either fill unrequested fields), never btime.
        can = c.STATX_BASIC_STATS | (asked & c.STATX_MNT_ID)
        if k.stx_mask & can & ~f.stx_mask or f.stx_mask & ~(k.stx_mask | can):
            wrong.append((i, "mask", k.stx_mask, f.stx_mask))
        for field in ("stx_mode", "stx_ino", "stx_size", "stx_nlink", "stx_uid", "stx_gid",
                      "stx_dev", "stx_rdev", "stx_blocks", "stx_mtime_ns", "stx_ctime_ns",
                      "stx_blksize", "stx_mnt_id"):  # atime: following a symlink reads it
            a, b = getattr(k, field), getattr(f, field)
            if a is not None and b is not None and a != b:
                wrong.append((i, field, a, b))
    assert wrong == []


def test_statx_fallback_is_honest_about_its_fields(tmp_path: Path) -> None:
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    f = tmp_path / "f"
    f.write_text("x")
    def both(path: str) -> tuple[Any, Any]:
        return (c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME),
                c.statx(path, c.STATX_BASIC_STATS | c.STATX_MNT_ID))

    r, with_mount = in_child(both, str(f), rules={"statx": Action.errno(1)}).get()
    assert r.stx_btime is None
    assert r.stx_mask == c.STATX_BASIC_STATS  # the mount id only when asked for
    assert (r.stx_attributes, r.stx_attributes_mask) == (0, 0)
    assert r.stx_mnt_id is None
    assert with_mount.stx_mask == c.STATX_BASIC_STATS | c.STATX_MNT_ID  # /proc/self/fdinfo
    kernel = in_child(c.statx, str(f), c.STATX_MNT_ID).get()
    assert with_mount.stx_mnt_id == kernel.stx_mnt_id


# --- close_range ----------------------------------------------------------------

def _close_range_case() -> list[Any]:
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(6)]
    for fd in fds:
        os.set_inheritable(fd, True)  # Python opens close-on-exec; start without it
    lo, hi = min(fds), max(fds)
    c.close_range(fds[1], fds[2])
    closed = [outcome(functools.partial(os.fstat, fd)) for fd in fds]
    c.close_range(fds[3], fds[4], c.CLOSE_RANGE_CLOEXEC)
    cloexec = [bool(__import__("fcntl").fcntl(fd, 1) & 1) for fd in (fds[0], fds[3], fds[4])]
    errors = [outcome(lambda: c.close_range(hi, lo)), outcome(lambda: c.close_range(0, 1, 1))]
    c.close_range(fds[5], 2**32 - 1)
    last = outcome(lambda: os.fstat(fds[5]))
    return [[r[0] for r in closed], cloexec, [e[:2] for e in errors], last[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_close_range(mode: str) -> None:
    got = run_mode(mode, _close_range_case)
    assert got == [["ok", "OSError", "OSError", "ok", "ok", "ok"], [False, True, True],
                   [("OSError", errno.EINVAL), ("OSError", errno.EINVAL)],
                   ("OSError", errno.EBADF)]


# --- copy_file_range ------------------------------------------------------------

def _copy_case(root: str) -> list[Any]:
    src, dst = os.path.join(root, "src"), os.path.join(root, "dst")
    with open(src, "wb") as f:
        f.write(b"0123456789")
    a = os.open(src, os.O_RDONLY)
    b = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    out: list[Any] = [c.copy_file_range(a, b, 4)]                     # offsets advance
    out.append((os.lseek(a, 0, os.SEEK_CUR), os.lseek(b, 0, os.SEEK_CUR)))
    out.append(c.copy_file_range(a, b, 3, 7, 20))                      # explicit offsets
    out.append((os.lseek(a, 0, os.SEEK_CUR), os.lseek(b, 0, os.SEEK_CUR)))
    out.append(c.copy_file_range(a, b, 100))                           # up to EOF
    out.append(c.copy_file_range(a, b, 100))                           # at EOF: 0
    out.append(os.pread(b, 30, 0))
    ap = os.open(dst, os.O_WRONLY | os.O_APPEND)
    out.append(outcome(lambda: c.copy_file_range(a, ap, 1, 0))[:2])    # EBADF: O_APPEND
    out.append(outcome(lambda: c.copy_file_range(b, b, 4, 0, 2))[:2])  # overlap: EINVAL
    out.append(outcome(lambda: c.copy_file_range(-1, b, 1))[:2])
    for fd in (a, b, ap):
        os.close(fd)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_copy_file_range(mode: str, tmp_path: Path) -> None:
    got = run_mode(mode, _copy_case, str(tmp_path))
    assert got == [4, (4, 4), 3, (4, 4), 6, 0,
                   b"0123456789" + b"\0" * 10 + b"789",
                   ("OSError", errno.EBADF), ("OSError", errno.EINVAL), ("OSError", errno.EBADF)]


def _copy_outcome(a: int, b: int, count: int, offsets: tuple[Any, ...]) -> Any:
    return outcome(lambda: c.copy_file_range(a, b, count, *offsets))[:2]


def _position(fd: int) -> int | None:
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _copy_scenarios(root: str, other_fs: str | None) -> list[Any]:
    """Each scenario on fresh files: the outcome, the destination's bytes and both
    file offsets.  Run once with the kernel, once under an EPERM filter."""
    from .kernel import FS_IMMUTABLE_FL, _flags

    src, dst = os.path.join(root, "src"), os.path.join(root, "dst")
    ten = b"0123456789"
    rd, wr, rw, ap = os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND
    # (src open flags, dst open flags or "same"/"dir"/"pipe"/"null"/"other", count, offsets)
    scenarios: list[tuple[Any, Any, int, tuple[Any, ...]]] = [
        (rd, rw, 8, ()), (rd, rw, 8, (0, 0)), (rd, rw, 8, (2, 5)), (rd, rw, 8, (20, 0)),
        (rd, rw, 0, ()), (rd, rw, 3, (None, 4)), (rd, rw, 2**62, (0, 0)),
        (wr, rw, 4, ()), (rd, rd, 4, ()), (rd, ap, 4, ()), (rw, "same", 100, (0, 5)),
        (rw, "same", 100, (8, 0)), (rw, "same", 5, (20, 0)), (rw, "same", 3, (0, 3)),
        (rd, rw, 10, (2**63 - 2, 0)), (rd, rw, 10, (0, 2**63 - 2)),
        ("dir", rw, 4, ()), (rd, "dir", 4, ()), ("pipe", rw, 4, ()), (rd, "null", 4, ()),
        (-1, rw, 4, ()), (rd, 999_999, 4, ()), (rd, "other", 4, ()), ("other", rw, 4, (0, 0)),
        (rd, "immutable", 4, (10, 0)), (rd, "immutable", 4, (0, 0)),
    ]
    out: list[Any] = []
    for a_how, b_how, count, offsets in scenarios:
        for name, data in ((src, ten), (dst, b"abc")):
            with open(name, "wb") as f:
                f.write(data)
        opened: list[int] = []

        def fd_for(how: Any, path: str, opened: list[int] = opened) -> int:
            if isinstance(how, int) and (how < 0 or how > 1000):
                return how  # not an open descriptor
            if how == "dir":
                fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            elif how == "pipe":
                fd, w = os.pipe()
                os.write(w, b"xy")
                opened.append(w)
            elif how == "null":
                fd = os.open("/dev/null", os.O_WRONLY)
            elif how in ("other", "immutable"):
                if how == "other":
                    if other_fs is None:
                        return -2
                    where = os.path.join(other_fs, "f")
                else:
                    where = path + ".i"
                with open(where, "wb") as f:
                    f.write(ten)
                fd = os.open(where, os.O_RDWR)
                if how == "immutable":
                    _flags(fd, _flags(fd) | FS_IMMUTABLE_FL)
            else:
                fd = os.open(path, how)
            opened.append(fd)
            return fd

        a = fd_for(a_how, src)
        b = a if b_how == "same" else fd_for(b_how, dst)
        if -2 in (a, b):
            out.append("no other file system")
            continue
        try:
            got = _copy_outcome(a, b, count, offsets)
            with open(dst, "rb") as result:
                out.append((got, result.read(), [_position(fd) for fd in (a, b)]))
        finally:
            for fd in opened:
                with contextlib.suppress(OSError):
                    _flags(fd, _flags(fd) & ~FS_IMMUTABLE_FL)
                os.close(fd)
    return out


def _copy_differential(root: str) -> list[Any]:
    """The scenarios with the kernel, then under an EPERM filter; disagreements.
    In a private mount namespace, a tmpfs is the other file system (EXDEV)."""
    from seccompat.bpf import Filter, compile_filter, install

    tmpfs = os.path.join(root, "tmpfs")
    other: str | None = tmpfs
    try:
        private_mount_namespace()
        os.mkdir(tmpfs)
        mount_tmpfs(tmpfs)
    except OSError:
        other = None  # the EXDEV scenarios report "no other file system"
    kernel = _copy_scenarios(root, other)
    install(compile_filter(Filter.simple(Action.allow(), {"copy_file_range": Action.errno(1)})))
    fallback = _copy_scenarios(root, other)
    return [(i, k, f) for i, (k, f) in enumerate(zip(kernel, fallback, strict=True)) if k != f]


def test_copy_file_range_fallback_agrees_with_the_kernel(tmp_path: Path, root: None) -> None:
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    assert in_child(_copy_differential, str(tmp_path)).get() == []


# --- getrandom -----------------------------------------------------------------

def _random_case() -> list[Any]:
    return [len(c.getrandom(0)), len(c.getrandom(64)), len(c.getrandom(32, c.GRND_NONBLOCK)),
            len(c.getrandom(16, c.GRND_INSECURE)), c.getrandom(32) != c.getrandom(32),
            outcome(lambda: c.getrandom(1, 0x80))[:2],
            outcome(lambda: c.getrandom(1, c.GRND_RANDOM | c.GRND_INSECURE))[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_getrandom(mode: str) -> None:
    assert run_mode(mode, _random_case) == [0, 64, 32, 16, True, ("OSError", errno.EINVAL),
                                           ("OSError", errno.EINVAL)]


def _unshare_case() -> list[Any]:
    """close_range(UNSHARE) in this thread: another thread, which shared the table,
    keeps the descriptor; this one loses it."""
    fd = os.open("/dev/null", os.O_RDONLY)
    ready, done, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        ready.set()
        done.wait()
        seen.append(outcome(lambda: os.fstat(fd))[0])

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait()
    got = outcome(lambda: c.close_range(fd, fd, c.CLOSE_RANGE_UNSHARE))[:2]
    here = outcome(lambda: os.fstat(fd))[0]
    done.set()
    thread.join()
    return [got, here, seen[0]]


@functools.cache
def _threads_usable() -> bool:
    """Whether threads can start here: glibc's pthread_create falls back from clone3
    only on ENOSYS, so under an EPERM profile older than 5.3 they cannot."""
    try:
        thread = threading.Thread(target=lambda: None)
        thread.start()
    except RuntimeError:
        return False
    thread.join()
    return True


@pytest.mark.parametrize("mode", MODES)
def test_close_range_unshare(mode: str) -> None:
    if not _threads_usable():
        pytest.skip("threads cannot start here (clone3 gets EPERM from an outer filter)")
    assert run_mode(mode, _unshare_case) == [("ok", None), "OSError", "ok"]


def test_close_range_unshare_without_unshare_is_unavailable() -> None:
    if not _filters_usable() or not _threads_usable():
        pytest.skip("an outer filter denies seccomp(2) or threads")
    got = in_child(_unshare_case, rules={"close_range": Action.errno(errno.EPERM),
                                         "unshare": Action.errno(errno.EPERM)}).get()
    assert got == [("SyscallUnavailable", errno.ENOSYS), "ok", "ok"]


# --- fchmodat2 -----------------------------------------------------------------

def _chmod_case(root: str) -> list[Any]:
    f, link = os.path.join(root, "f"), os.path.join(root, "link")
    c.fchmodat2(f, 0o600)
    a = stat.S_IMODE(os.stat(f).st_mode)
    c.fchmodat2(f, 0o640, follow_symlinks=False)
    b = stat.S_IMODE(os.stat(f).st_mode)
    c.fchmodat2(link, 0o604)  # through the symlink
    d = stat.S_IMODE(os.stat(f).st_mode)
    return [a, b, d, outcome(lambda: c.fchmodat2(link, 0o600, follow_symlinks=False))[:2],
            outcome(lambda: c.fchmodat2(os.path.join(root, "missing"), 0o600))[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_fchmodat2(mode: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to("f")
    assert run_mode(mode, _chmod_case, str(tmp_path)) == [
        0o600, 0o640, 0o604, ("OSError", errno.EOPNOTSUPP), ("FileNotFoundError", errno.ENOENT)]


def _chmod_as(uid: int, path: str, follow: bool) -> Any:
    os.setresuid(uid, uid, uid)
    return outcome(lambda: c.fchmodat2(path, 0o600, follow_symlinks=follow))[:2]


def _chmod_scenarios(base: str, uid: int) -> list[Any]:
    """fchmodat2 over owners, symlinks, an immutable file and a read-only mount, as
    *uid*: each outcome and the mode that results, on a fresh tree each time."""
    from .kernel import FS_IMMUTABLE_FL, _flags

    out: list[Any] = []
    names = ("own", "roots", "link", "dangling", "missing", "dir", "immutable",
             "ro/own", "ro/link")
    for follow in (True, False):
        for name in names:
            root = os.path.join(base, f"t{len(out)}")
            os.mkdir(root, 0o755)
            for fname, owner in (("own", uid), ("roots", 0), ("immutable", 0)):
                with open(os.path.join(root, fname), "w"):
                    pass
                os.chown(os.path.join(root, fname), owner, owner)
                os.chmod(os.path.join(root, fname), 0o644)
            os.symlink("own", os.path.join(root, "link"))
            os.symlink("nowhere", os.path.join(root, "dangling"))
            os.mkdir(os.path.join(root, "dir"), 0o755)
            os.chown(os.path.join(root, "dir"), uid, uid)
            ro = os.path.join(root, "ro")
            os.mkdir(ro)
            with open(os.path.join(ro, "own"), "w"):
                pass
            os.chown(os.path.join(ro, "own"), uid, uid)
            os.symlink("own", os.path.join(ro, "link"))
            bind_read_only(ro, ro)
            fd = os.open(os.path.join(root, "immutable"), os.O_RDONLY)
            _flags(fd, _flags(fd) | FS_IMMUTABLE_FL)
            try:
                got = in_child(_chmod_as, uid, os.path.join(root, name), follow).get()
            finally:
                _flags(fd, _flags(fd) & ~FS_IMMUTABLE_FL)
                os.close(fd)
                umount(ro)
            try:
                mode = stat.S_IMODE(os.lstat(os.path.join(root, name)).st_mode)
            except OSError:
                mode = None
            out.append((name, follow, got, mode))
    return out


def _chmod_differential(base: str, uid: int) -> list[Any]:
    from seccompat.bpf import Filter, compile_filter, install

    private_mount_namespace()
    os.mkdir(os.path.join(base, "kernel"))
    os.mkdir(os.path.join(base, "fallback"))
    kernel = _chmod_scenarios(os.path.join(base, "kernel"), uid)
    install(compile_filter(Filter.simple(Action.allow(), {"fchmodat2": Action.errno(1)})))
    fallback = _chmod_scenarios(os.path.join(base, "fallback"), uid)
    return [(k, f) for k, f in zip(kernel, fallback, strict=True) if k != f]


@pytest.mark.parametrize("uid", [0, 1000])
def test_fchmodat2_fallback_agrees_with_the_kernel(uid: int, root: None) -> None:
    """Outcome and resulting mode, kernel against fallback: owned, foreign, symlink,
    dangling, missing, directory, immutable, and a read-only mount."""
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    if classify("fchmodat2").status.value != "available":
        pytest.skip("fchmodat2 is unavailable here (kernel < 6.6 or an outer filter): "
                    "no kernel answer to compare against")
    with reachable_dir() as base:
        assert in_child(_chmod_differential, str(base), uid).get() == []


# --- pidfd ---------------------------------------------------------------------

def _pidfd_case() -> Any:
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    try:
        fd = c.pidfd_open(pid)
        c.pidfd_send_signal(fd, signal.SIGTERM)
        dup = c.pidfd_getfd(c.pidfd_open(os.getpid()), 0)
        os.close(dup)
        return "works"
    except c.SyscallUnavailable as exc:
        os.kill(pid, signal.SIGTERM)
        return ("unavailable", exc.errno, exc.verdict is not None)
    finally:
        os.waitpid(pid, 0)


@pytest.mark.parametrize("mode", MODES)
def test_pidfd_has_no_emulation(mode: str) -> None:
    expected = "works" if mode == "kernel" and classify("pidfd_open").status.value == \
        "available" else ("unavailable", errno.ENOSYS, True)
    assert run_mode(mode, _pidfd_case) == expected


# --- renameat2 -----------------------------------------------------------------

def _rename_case(root: str) -> list[Any]:
    def p(name: str) -> str:
        return os.path.join(root, name)

    for name in ("a", "b", "c"):
        with open(p(name), "w") as f:
            f.write(name)
    out: list[Any] = [outcome(lambda: c.renameat2(p("a"), p("b"), c.RENAME_NOREPLACE))[:2]]
    c.renameat2(p("a"), p("new"), c.RENAME_NOREPLACE)
    out.append(sorted(os.listdir(root)))
    c.renameat2(p("new"), p("b"))  # flags 0: replaces
    out.append((sorted(os.listdir(root)), Path(p("b")).read_text()))
    os.mkdir(p("d"))
    out.append(outcome(lambda: c.renameat2(p("b"), p("c"), c.RENAME_EXCHANGE)))
    out.append(outcome(lambda: c.renameat2(p("d"), p("d2"), c.RENAME_NOREPLACE)))
    out.append(outcome(lambda: c.renameat2(p("b"), p("c"), 3))[:2])
    return out


@pytest.mark.parametrize("mode", MODES)
def test_renameat2(mode: str, tmp_path: Path) -> None:
    got = run_mode(mode, _rename_case, str(tmp_path))
    assert got[:3] == [("FileExistsError", errno.EEXIST), ["b", "c", "new"],
                       (["b", "c"], "a")]
    assert got[5] == ("OSError", errno.EINVAL)
    if mode == "kernel":
        assert got[3] == ("ok", None)
        assert got[4] == ("ok", None)
    else:
        assert got[3][:2] == ("SyscallUnavailable", errno.ENOSYS)
        assert got[4][:2] == ("SyscallUnavailable", errno.ENOSYS)


def _noreplace_as(uid: int, src: str, dst: str) -> Any:
    os.setresuid(uid, uid, uid)
    return outcome(lambda: c.renameat2(src, dst, c.RENAME_NOREPLACE))[:2], \
        os.path.exists(src), os.path.exists(dst)


@pytest.mark.parametrize("mode", MODES)
def test_renameat2_noreplace_where_only_link_is_refused(mode: str, root: None) -> None:
    """rename(2) needs only the directory; link(2) also the file (protected_hardlinks).
    The emulation cannot serve such a call: SyscallUnavailable, nothing moved.  An
    immutable source is refused by rename(2) itself: EPERM either way."""
    from .kernel import sysctl

    with reachable_dir(0o777) as base_path:  # writable by the caller, not sticky
        base = str(base_path)
        src, dst = os.path.join(base, "roots"), os.path.join(base, "moved")
        with open(src, "w"):
            pass
        os.chmod(src, 0o600)
        with sysctl("fs.protected_hardlinks", "1"):
            got = run_mode(mode, _noreplace_as, 1000, src, dst)
        if mode == "kernel":
            assert got == (("ok", None), False, True)
        else:
            assert got == (("SyscallUnavailable", errno.ENOSYS), True, False)
        with immutable_file(Path(base)) as frozen:
            got = run_mode(mode, _noreplace_as, 0, str(frozen), dst + "2")
        assert got == (("PermissionError", errno.EPERM), True, False)


FS_APPEND_FL = 0x20


def _rename_state(base: str) -> list[tuple[str, str, int]]:
    """What is where under *base*: (directory, name, link count) for every entry."""
    return sorted((os.path.relpath(d, base), n, os.lstat(os.path.join(d, n)).st_nlink)
                  for d, _, names in os.walk(base) for n in names)


def _noreplace_scenario(base: str, name: str, uid: int) -> tuple[Any, list[Any]]:
    """One scenario where unlink(2) of the source would fail after link(2) succeeds:
    built as root, the call made as *uid*; the answer and what is left."""
    from .kernel import _flags

    src_dir, dst_dir = os.path.join(base, "src"), os.path.join(base, "dst")
    os.mkdir(src_dir)
    os.mkdir(dst_dir)
    os.chmod(dst_dir, 0o777)
    src = os.path.join(src_dir, "victim")
    with open(src, "w") as f:
        f.write("x")
    os.chmod(src, 0o666)
    flagged = None
    if name == "sticky":  # the issue's case: a 1777 directory, another user's file
        os.chmod(src_dir, 0o1777)
        os.chown(src, 1000, 1000)
    elif name == "sticky-owner-of-dir":  # the directory's owner may delete anything
        os.chmod(src_dir, 0o1777)
        os.chown(src_dir, uid, uid)
        os.chown(src, 1000, 1000)
    elif name == "unwritable-source-dir":  # link needs only the destination directory
        os.chmod(src_dir, 0o755)
        os.chown(src, uid, uid)
    elif name == "append-only-source-dir":
        os.chmod(src_dir, 0o777)
        flagged = os.open(src_dir, os.O_RDONLY | os.O_DIRECTORY)
        _flags(flagged, _flags(flagged) | FS_APPEND_FL)
    try:
        # The issue's case renames within the sticky directory, where the undo
        # (unlink of the new name) is refused as well.
        dst = os.path.join(src_dir if name.startswith("sticky") else dst_dir, "moved")
        os.setresgid(uid, uid, 0)
        os.setresuid(uid, uid, 0)  # the saved uid lets the clean-up become root again
        got = outcome(lambda: c.renameat2(src, dst, c.RENAME_NOREPLACE))[:2]
        os.setresuid(0, 0, 0)
        return got, _rename_state(base)
    finally:
        os.setresuid(0, 0, 0)
        os.setresgid(0, 0, 0)
        if flagged is not None:
            _flags(flagged, _flags(flagged) & ~FS_APPEND_FL)
            os.close(flagged)


@pytest.mark.parametrize("name", ["sticky", "sticky-owner-of-dir", "unwritable-source-dir",
                                  "append-only-source-dir", "plain"])
def test_renameat2_noreplace_fallback_changes_nothing_the_kernel_would_not(
        name: str, root: None) -> None:
    """Wherever the kernel refuses, the emulation (link, then unlink) refuses with the
    same errno and leaves nothing behind; wherever the kernel renames, so does it."""
    results = []
    for mode in ("kernel", "eperm"):
        with reachable_dir(0o755) as base:
            results.append(run_mode(mode, _noreplace_scenario, str(base), name, 65534))
    kernel, fallback = results
    assert fallback == kernel


# --- call() --------------------------------------------------------------------

def _generic_case() -> list[Any]:
    name = ctypes.create_string_buffer(b"x")
    addr = ctypes.addressof(name)
    got = c.call("memfd_create", addr, 1, fallback=lambda: "fallback")
    if isinstance(got, int):
        os.close(got)
        got = "kernel"
    return [got, outcome(lambda: c.call("memfd_create", addr, 0x80000000))[:2],
            outcome(lambda: c.call("close", -1))[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_generic_call(mode: str) -> None:
    got = run_mode(mode, _generic_case)
    if mode == "kernel" and classify("memfd_create").status.value == "available":
        assert got == ["kernel", ("OSError", errno.EINVAL), ("OSError", errno.EBADF)]
    else:
        assert got == ["fallback", ("SyscallUnavailable", errno.ENOSYS),
                       ("OSError", errno.EBADF)]


def test_generic_call_rejects_unknown_names() -> None:
    with pytest.raises(LookupError, match="did you mean"):
        c.call("memfd_creat")
    with pytest.raises(TypeError):
        c.call(42)  # type: ignore[arg-type]


# --- bad input -----------------------------------------------------------------

# Only values that are invalid by construction: the calls below change things when
# given valid arguments (hypothesis once produced "/" and chmod-ed it: never again).
_INVALID = st.one_of(
    st.floats(allow_nan=True), st.none(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1),
    st.text(max_size=8).map(lambda t: t + "\0"), st.binary(max_size=8).map(lambda b: b"\0" + b),
)


def _try_all(value: Any) -> list[str]:
    """In a throwaway child and cwd: every wrapper with *value*; the unexpected errors."""
    import tempfile

    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)
        try:
            return _try_each(value)
        finally:
            os.chdir("/")


def _try_each(value: Any) -> list[str]:
    attempts: list[Callable[[], Any]] = [
        lambda: c.faccessat2(value, os.R_OK), lambda: c.access("/", value),
        lambda: c.statx(value), lambda: c.close_range(value, value),
        lambda: c.copy_file_range(value, value, 1), lambda: c.getrandom(value),
        lambda: c.fchmodat2(value, 0o644), lambda: c.renameat2(value, value),
        lambda: c.pidfd_open(value), lambda: c.statx(".", flags=value),
        lambda: c.statx(".", value), lambda: c.faccessat2(".", value),
        lambda: c.faccessat2(".", os.R_OK, flags=value),
        lambda: c.access(".", os.R_OK, dir_fd=value if value is not None else "x"),  # type: ignore[arg-type]
    ]
    unexpected = []
    for fn in attempts:
        try:
            fn()
            unexpected.append(f"accepted {value!r}")
        except (TypeError, ValueError, OSError):
            pass
        except Exception as exc:
            unexpected.append(f"{type(exc).__name__}: {exc}")
    return unexpected


@settings(max_examples=60, deadline=None)
@given(_INVALID)
def test_bad_input_never_crashes(value: Any) -> None:
    """With the kernel, and under the EPERM filter once every call's verdict is known
    (the C entries' doomed paths must refuse bad values the same way)."""
    assert in_child(_try_all, value).get() == []
    if _filters_usable():
        assert run_mode("eperm", _warmed_try_all, value) == []


def _warmed_try_all(value: Any) -> list[str]:
    _try_all(0)  # every wrapper once: the verdicts are known, the doomed paths live
    return _try_all(value)


@pytest.mark.parametrize(("call_", "exc"), [
    (lambda: c.statx("a\0b"), ValueError),
    (lambda: c.faccessat2(b"a\0b", os.R_OK), ValueError),
    (lambda: c.statx(3.5), TypeError),  # type: ignore[arg-type]
    (lambda: c.faccessat2("/", "r"), TypeError),  # type: ignore[arg-type]
    (lambda: c.statx("/", flags=2**40), ValueError),
    (lambda: c.close_range(-1, 3), ValueError),
    (lambda: c.getrandom(-1), ValueError),
])
def test_bad_input_errors(call_: Callable[[], Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        call_()


def test_huge_fds_are_overflow_errors_and_negative_ones_ebadf() -> None:
    """As ``os``: no C int holds 2**40 (OverflowError, here also a ValueError); -5 is
    the kernel's EBADF."""
    for call_ in (c.statx, lambda fd: c.access(".", os.R_OK, dir_fd=fd),
                  lambda fd: c.copy_file_range(fd, 1, 1)):
        for fd, exc in ((2**40, OverflowError), (-(2**40), ValueError)):
            with pytest.raises(exc):
                call_(fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        c.statx(-5)
    assert not c.access(".", os.R_OK, dir_fd=-5)  # os.access: False for EBADF


def test_paths_may_be_str_bytes_or_pathlike(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    for form in (str(f), os.fsencode(f), f):
        assert c.statx(form).stx_size == 1
        assert c.access(form, os.R_OK)


# --- the C entries against the Python implementations they hand over to -----------

def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # the kind and errno are what must agree
        return (type(exc).__name__, getattr(exc, "errno", None))
    return ("ok", len(value) if isinstance(value, bytes) else value)


def _c_python_disagreements(tmp: str) -> list[Any]:
    """Every case where a C entry and the Python implementation it hands over to
    disagree; each C entry is called before and after the Python side, so under a
    filter the second call takes the C entry's doomed path."""
    from seccompat.calls import _close_range, _copy_file_range, _faccessat2, _getrandom, _statx

    missing, link = os.path.join(tmp, "missing"), os.path.join(tmp, "link")
    cases: list[tuple[Callable[..., Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    paths = ("/", os.path.join(tmp, "f"), missing, b"/", "a\0b", 3.5)
    modes = (0, os.R_OK, os.W_OK | os.X_OK, 8, -1, True)
    cases = [(c.access, _faccessat2._access, (p, m), kw) for p in paths for m in modes
             for kw in ({}, {"effective_ids": True}, {"follow_symlinks": False},
                        {"dir_fd": None}, {"effective_ids": 1})]
    cases += [(c.faccessat2, _faccessat2._faccessat2, (p, m), kw) for p in paths for m in modes
              for kw in ({}, {"flags": 0x200}, {"flags": 0x300}, {"flags": 0x8000},
                         {"dir_fd": None}, {"flags": True}, {"flags": -1})]
    cases += [(c.statx, _statx._statx, (p, *m), kw)
              for p in ("/", link, missing, b"/", "a\0b", 0, 3.5)
              for m in ((), (0,), (0x7FF | 0x800 | 0x1000,), (0x8000_0000,), (-1,))
              for kw in ({}, {"follow_symlinks": False}, {"flags": 0}, {"flags": 0x800},
                         {"dir_fd": None}, {"follow_symlinks": 0})]
    cases += [(c.getrandom, _getrandom._getrandom, (n, *f), {})
              for n in (0, 1, 32, -1, 2**40, True, 1.0) for f in ((), (0,), (1,), (0x1000,))]
    cases += [(c.close_range, _close_range._close_range, a, {})
              for a in ((10_000, 10_000), (5, 3), (1 << 32, 1 << 32), (-1, 2), (9000, 9001, 8),
                        (9000, "x"), (9000, 9001, 0, 0), (9000, 9001, 4))]
    wrong = []
    for c_fn, py_fn, args, kwargs in cases:
        got = [_outcome(fn, *args, **kwargs) for fn in (c_fn, py_fn, c_fn)]
        if got.count(got[0]) != 3:
            wrong.append((c_fn.__name__, args, kwargs, got))
    # copy_file_range moves data: each call gets its own fresh pair of files.
    copies: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}), ((0, 0), {}), ((None, 5), {}), ((-1,), {}), ((), {"offset_src": 2}),
        ((0,), {"offset_src": 0}), ((), {"offset_dst": "x"}), ((), {"bogus": 1})]
    for args, kwargs in copies:
        got = []
        for fn in (c.copy_file_range, _copy_file_range._copy_file_range, c.copy_file_range):
            src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
            with open(src, "wb") as f:
                f.write(b"0123456789")
            with open(dst, "wb"):
                pass
            with open(src, "rb") as a, open(dst, "r+b") as b:
                got.append((_outcome(fn, a.fileno(), b.fileno(), 8, *args, **kwargs),
                            b.read(), a.tell()))
        if got.count(got[0]) != 3:
            wrong.append(("copy_file_range", args, kwargs, got))
    return wrong


@pytest.mark.parametrize("mode", MODES)
def test_c_entries_agree_with_python(mode: str, tmp_path: Path) -> None:
    """Value, or exception kind and errno, over an argument matrix: the kernel's plain
    case, and under a filter the doomed plain case that calls the fallback itself."""
    from seccompat.raw import fast

    if fast is None:
        pytest.skip("the C accelerator is not built")
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    assert run_mode(mode, _c_python_disagreements, str(tmp_path)) == []


def test_doomed_c_entries_are_per_thread(tmp_path: Path) -> None:
    """A filter installed by one thread (no TSYNC) blocks only that thread: another
    thread's C entries keep calling the kernel, which fills btime."""
    from seccompat.bpf import Filter as F
    from seccompat.bpf import compile_filter, install

    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    if classify("statx").status.value != "available":
        pytest.skip("statx is unavailable to every thread here (an outer filter, or the kernel)")
    (tmp_path / "f").write_text("x")
    path = str(tmp_path / "f")

    def body() -> tuple[bool, bool, bool]:
        start, results = threading.Event(), []

        def unfiltered() -> None:
            start.wait()
            results.append(c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME).stx_btime
                           is not None)

        other = threading.Thread(target=unfiltered)
        other.start()  # before the filter: it stays unfiltered
        install(compile_filter(F.simple(Action.allow(), {"statx": Action.errno(1)})))
        here = [c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME).stx_btime is None
                for _ in range(3)]  # the first call dooms statx here, the rest use C's verdict
        start.set()
        other.join()
        return here[0], here[2], results[0]

    assert in_child(body).get() == (True, True, True)


def test_doomed_plain_case_goes_straight_to_the_fallback(tmp_path: Path) -> None:
    """Once this thread's verdict is known, the C entries call the fallback without
    the Python implementation (or the verdict lookup) in between."""
    from seccompat.raw import fast

    if fast is None:
        pytest.skip("the C accelerator is not built")
    if not _filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    (tmp_path / "f").write_text("x")
    path = str(tmp_path / "f")
    calls: dict[str, Callable[[], object]] = {
        "statx": lambda: c.statx(path), "getrandom": lambda: c.getrandom(8),
        "faccessat2": lambda: c.faccessat2(path, os.R_OK, flags=0x200),
        "access": lambda: c.access(path, os.R_OK, effective_ids=True),
        "close_range": lambda: c.close_range(9000, 9001)}

    def body() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for name, call in calls.items():
            call()  # learns the verdict
            frames: list[str] = []

            def profile(frame: Any, event: str, _: Any, frames: list[str] = frames) -> None:
                if event == "call":
                    frames.append(frame.f_code.co_name)

            sys.setprofile(profile)
            try:
                call()
            finally:
                sys.setprofile(None)
            seen[name] = frames[:2]  # the lambda, then the first Python function
        return seen

    assert run_mode("eperm", body) == {name: ["<lambda>", "_fallback"] for name in calls}




# --- the public functions introspect like Python functions -------------------------

@pytest.mark.parametrize("name", ["access", "faccessat2", "statx", "getrandom",
                                  "copy_file_range", "close_range", "openat2"])
def test_c_entries_carry_their_python_signature_and_docs(name: str) -> None:
    """help() and inspect see the real signature (the C accelerator's entries carry a
    __text_signature__ equal to the Python implementation's) and a docstring that
    names the man page."""
    import importlib
    import inspect

    public = getattr(c, name)
    module = {"access": "faccessat2"}.get(name, name)
    python = getattr(importlib.import_module(f"seccompat.calls._{module}"),
                     f"_{name}")

    def shape(fn: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(public) == shape(python)
    doc = public.__doc__ or ""
    assert f"{name if name != 'access' else 'faccessat2'}(2)" in doc, doc


def test_close_range_out_of_range_is_fd_out_of_range() -> None:
    """docs/compatibility.md promises FdOutOfRange (an OverflowError and a ValueError)
    for a descriptor no C int can hold; close_range's bound is the unsigned int."""
    for first, last in ((2**40, 2**40 + 1), (0, 2**32), (-1, 5)):
        with pytest.raises(c.FdOutOfRange):
            c.close_range(first, last)
