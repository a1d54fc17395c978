"""fchmodat2: the kernel and the fallback through /proc/self/fd."""


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
    bind_read_only,
    in_child,
    private_mount_namespace,
    reachable_dir,
    umount,
)
from .modes import MODES, filters_usable, outcome, run_mode

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
    from ..kernel import FS_IMMUTABLE_FL, _flags

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
    if not filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    if classify("fchmodat2").status.value != "available":
        pytest.skip("fchmodat2 is unavailable here (kernel < 6.6 or an outer filter): "
                    "no kernel answer to compare against")
    with reachable_dir() as base:
        assert in_child(_chmod_differential, str(base), uid).get() == []
