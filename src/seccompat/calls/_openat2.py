"""openat2(2): open with RESOLVE_* restrictions, and a userspace resolver behind it."""

from __future__ import annotations

import errno as E
import os
import struct
from dataclasses import dataclass

from ._entry import Param, Words, entry
from ._kernel import (
    AT_FDCWD,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    attempt,
    dir_fd_arg,
    flags_arg,
    fs_path,
    int_arg,
    os_dir_fd,
    oserror,
    to_fd,
)
from ._resolver import (
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    resolve_open,
)

__all__ = [
    "RESOLVE_BENEATH",
    "RESOLVE_CACHED",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "OpenHow",
    "open_beneath",
    "open_in_root",
    "openat2",
]

_RESOLVE_ALL = (RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS
                | RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED)
# O_LARGEFILE as the kernel spells it (uapi asm/fcntl.h): Python's os.O_LARGEFILE is 0
# on 64-bit ABIs, where the kernel still accepts (and forces) the bit.
_O_LARGEFILE = os.O_LARGEFILE or {
    "aarch64": 0o400000, "arm": 0o400000, "ppc64": 0o200000, "ppc64le": 0o200000,
    "mips": 0x2000, "mips64": 0x2000, "sparc64": 0x40000, "parisc": 0o4000,
    "alpha": 0o400000}.get(os.uname().machine, 0o100000)
# Every open(2) flag the kernel knows (VALID_OPEN_FLAGS).
_VALID_OPEN = (os.O_ACCMODE | os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_APPEND
               | os.O_NONBLOCK | os.O_DSYNC | getattr(os, "O_ASYNC", 0o20000) | os.O_DIRECT
               | _O_LARGEFILE | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME | os.O_CLOEXEC
               | os.O_PATH | os.O_TMPFILE | os.O_SYNC)
_O_PATH_ALLOWED = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_PATH | os.O_CLOEXEC


@dataclass(frozen=True)
class OpenHow:
    """``struct open_how`` (include/uapi/linux/openat2.h): flags, mode, resolve."""

    flags: int
    mode: int = 0
    resolve: int = 0

    def pack(self) -> bytes:
        return _HOW.pack(self.flags, self.mode, self.resolve)


_HOW = struct.Struct("=QQQ")


def _validate(flags: int, mode: int, resolve: int) -> None:
    """build_open_flags() and openat2's own checks, for the fallback: EINVAL."""
    bad = (flags & ~_VALID_OPEN or resolve & ~_RESOLVE_ALL or mode & ~0o7777
           or (mode and not flags & os.O_CREAT and (flags & os.O_TMPFILE) != os.O_TMPFILE)
           or (resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT)
           or (flags & os.O_PATH and flags & ~_O_PATH_ALLOWED)
           or ((flags & os.O_TMPFILE) == os.O_TMPFILE
               and (not flags & (os.O_WRONLY | os.O_RDWR) or flags & os.O_CREAT)))
    if bad:
        raise oserror(E.EINVAL)


def _openat2(path: StrOrBytesPath, flags: int = os.O_RDONLY, mode: int = 0o777, *,
             dir_fd: FileDescriptorLike | None = None,
             resolve: int = 0) -> int:
    """openat2(2) -- open *path* (relative to *dir_fd*) with ``RESOLVE_*`` restrictions.

    Like ``os.open``: the descriptor is close-on-exec and *mode* only matters with
    O_CREAT or O_TMPFILE.  *resolve*: RESOLVE_BENEATH (EXDEV for any escape from
    *dir_fd*), RESOLVE_IN_ROOT (*dir_fd* is the root: ".." and absolute symlinks
    stay inside), RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS (ELOOP),
    RESOLVE_NO_XDEV (EXDEV at a mount crossing), RESOLVE_CACHED (EAGAIN unless
    the dcache alone can answer).  Linux 5.6.  Fallback: openat(2) when *resolve*
    is 0, else :mod:`seccompat.calls._resolver`, which refuses (EAGAIN) rather than
    guess where it cannot give the kernel's guarantee; RESOLVE_CACHED there is
    always EAGAIN.
    """
    raw = fs_path(path)
    flags = flags_arg(flags) | os.O_CLOEXEC
    resolve = flags_arg(resolve, "resolve")
    mode = int_arg(mode, "mode", 0, 2**32)
    if not flags & os.O_CREAT and (flags & os.O_TMPFILE) != os.O_TMPFILE:
        mode = 0  # os.open ignores it there; openat2 would refuse it
    fd = dir_fd_arg(dir_fd)
    how = OpenHow(flags, mode, resolve).pack()
    try:
        result = attempt("openat2", (fd, raw, how, 24))
        if result is not FALLBACK:
            return int(result)
        _validate(flags, mode, resolve)
        if not resolve:
            return os.open(raw, flags, mode, dir_fd=os_dir_fd(fd))
        return resolve_open(fd, raw, flags, mode, resolve)
    except OSError as exc:
        raise oserror(exc, path) from None


# The plain case in C: openat2(dir_fd, path, &how, 24), how = (flags | O_CLOEXEC,
# mode only with O_CREAT or O_TMPFILE, resolve), as _openat2 builds it.
openat2 = entry("openat2", _openat2, None, (
    Param("path", "path", reg=1), Param("flags", default=os.O_RDONLY, word=0),
    Param("mode", default=0o777, word=1, gate="flags", gate_masks=(os.O_CREAT, os.O_TMPFILE)),
    Param("dir_fd", default=None, none_ok=True, replace=True, reg=0, lo=-(2**31), hi=2**31 - 1),
    Param("resolve", default=0, word=2)),
    (AT_FDCWD, 0, Words(0), _HOW.size), "int", errors="raise", positional=3,
    words=(os.O_CLOEXEC, 0, 0))


def _root_fd(root: StrOrBytesPath | int) -> tuple[int, bool]:
    if isinstance(root, int) and not isinstance(root, bool):
        return to_fd(root, "root"), False
    return os.open(fs_path(root, "root"), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), True


def _open_scoped(root: StrOrBytesPath | int, path: StrOrBytesPath, flags: int, mode: int,
                 resolve: int) -> int:
    fd, owned = _root_fd(root)
    try:
        return openat2(path, flags, mode, dir_fd=fd, resolve=resolve)
    finally:
        if owned:
            os.close(fd)


def open_beneath(root: StrOrBytesPath | int, path: StrOrBytesPath, flags: int = os.O_RDONLY,
                 mode: int = 0o777) -> int:
    """Open *path* beneath *root* (a path or an fd): any escape fails with EXDEV
    (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)."""
    return _open_scoped(root, path, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)


def open_in_root(root: StrOrBytesPath | int, path: StrOrBytesPath, flags: int = os.O_RDONLY,
                 mode: int = 0o777) -> int:
    """Open *path* as if *root* (a path or an fd) were ``/``: ".." and absolute
    symlinks stay inside (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)."""
    return _open_scoped(root, path, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
