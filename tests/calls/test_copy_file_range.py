"""copy_file_range: the kernel's checks and copies, and the fallback's, compared."""


from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat.bpf import Action

from ..kernel import (
    in_child,
    mount_tmpfs,
    private_mount_namespace,
)
from .modes import MODES, filters_usable, outcome, run_mode

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
    from ..kernel import FS_IMMUTABLE_FL, _flags

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
    if not filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    assert in_child(_copy_differential, str(tmp_path)).get() == []
