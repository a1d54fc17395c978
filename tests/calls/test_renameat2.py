"""renameat2: RENAME_NOREPLACE's fallback refuses whatever the unlink would."""


from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c

from ..kernel import (
    immutable_file,
    reachable_dir,
)
from .modes import MODES, outcome, run_mode

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
    from ..kernel import sysctl

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
    from ..kernel import _flags

    src_dir, dst_dir = os.path.join(base, "src"), os.path.join(base, "dst")
    os.mkdir(src_dir)
    os.mkdir(dst_dir)
    os.chmod(dst_dir, 0o777)
    src = os.path.join(src_dir, "victim")
    with open(src, "w") as f:
        f.write("x")
    os.chmod(src, 0o666)
    flagged = None
    if name == "sticky":  # the case: a 1777 directory, another user's file
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
        # The case renames within the sticky directory, where the undo
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
