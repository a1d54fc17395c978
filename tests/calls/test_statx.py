"""statx: the kernel's fields, and the fallback's, with what it cannot fill."""


from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action

from ..kernel import (
    in_child,
)
from .modes import MODES, filters_usable, outcome, run_mode

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
    if not filters_usable():
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
    if not filters_usable():
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
