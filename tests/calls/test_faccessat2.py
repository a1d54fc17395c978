"""access and faccessat2: the kernel's answer on every path, and the emulation
against faccessat(2) under every kind of caller."""


from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompat import calls as c
from seccompat.bpf import Action

from ..kernel import (
    bind_read_only,
    in_child,
    mount_tmpfs,
    private_mount_namespace,
    reachable_dir,
    remount_read_only,
)
from .modes import MODES, filters_usable, outcome, run_mode

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
    if not filters_usable():
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
    if not filters_usable():
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
    from ..kernel import FS_IMMUTABLE_FL, _flags

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
