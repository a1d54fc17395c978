"""faccessat2(2) and an ``os.access`` that stays right under a seccomp filter.

``faccessat2`` (Linux 5.8) is the only call that checks access with the effective
ids (AT_EACCESS) or without following a symlink (AT_SYMLINK_NOFOLLOW).  glibc
falls back only on ENOSYS, so under an EPERM-default container profile
``os.access(..., effective_ids=True)`` silently answers False.

When the kernel lacks faccessat2 or a filter blocks it (classified, never on a
genuine EPERM such as W_OK on an immutable file), the fallback is the plain
faccessat(2) when it gives the same answer (no flags, or AT_EACCESS with real
and effective ids equal); otherwise the kernel's checks emulated in its order
(:mod:`seccompat.calls._permission`, which lists them and what it cannot see).
"""

from __future__ import annotations

import errno as E

from ._entry import Encoded, Given, Param, Register, entry
from ._kernel import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    attempt,
    dir_fd_arg,
    flags_arg,
    fs_path,
    int_arg,
    oserror,
)
from ._permission import creds, emulate

__all__ = ["access", "faccessat2"]

_VALID_FLAGS = AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH


def _faccessat2(path: StrOrBytesPath, mode: int, *, dir_fd: FileDescriptorLike | None = None,
                flags: int = 0) -> None:
    """faccessat2(2) -- check *path* for *mode* (os.F_OK, or R_OK|W_OK|X_OK).

    Returns None when access is granted and raises the kernel's error otherwise
    (PermissionError for EACCES and EPERM, FileNotFoundError, OSError(EROFS) ...).
    *flags*: AT_EACCESS (check with the effective ids), AT_SYMLINK_NOFOLLOW,
    AT_EMPTY_PATH.  Linux 5.8.  Fallback: faccessat(2) or the emulation described
    in this module, whose residual differences (LSMs, id mapping) are listed there.
    """
    raw = fs_path(path)
    mode = int_arg(mode, "mode")
    flags = flags_arg(flags)
    fd = dir_fd_arg(dir_fd)
    if not -(2**31) <= mode < 2**31:
        raise ValueError(f"mode {mode} does not fit in a C int")
    if mode < 0:
        raise oserror(E.EINVAL, path)
    try:
        if attempt("faccessat2", (fd, raw, mode, flags)) is not FALLBACK:
            return
    except OSError as exc:
        raise oserror(exc, path) from None
    _fallback(path, raw, mode, fd, flags)


def _fallback(path: object, raw: bytes, mode: int, dir_fd: int, flags: int) -> None:
    """The answer without faccessat2: faccessat(2) when it gives the same one, else
    the emulation; errors name *path*.  The C entries' doomed plain case calls it
    as ``(path, raw, mode, AT_FDCWD, flags)``."""
    if mode & ~7 or flags & ~_VALID_FLAGS:
        raise oserror(E.EINVAL, path)
    try:
        # faccessat gives the same answer when the real and effective credentials
        # (ids *and* the DAC capabilities) coincide.  (glibc compares only the ids.)
        if (flags == 0 or (flags == AT_EACCESS and creds(True) == creds(False))) \
                and attempt("faccessat", (dir_fd, raw, mode)) is not FALLBACK:
            return
        err = emulate(raw, mode, dir_fd, flags)
    except OSError as exc:
        raise oserror(exc, path) from None
    if err:
        raise oserror(err, path)


def _access(path: StrOrBytesPath, mode: int, *, dir_fd: FileDescriptorLike | None = None,
            effective_ids: bool = False, follow_symlinks: bool = True) -> bool:
    """``os.access`` with the same signature, right under a seccomp filter:
    faccessat2(2) first, and when the kernel lacks it or a filter blocks it, the
    checks emulated in the kernel's order (see :func:`faccessat2`).

    True when access is granted, False for any error, as ``os.access``; bad
    arguments raise TypeError or ValueError.
    """
    flags = (AT_EACCESS if effective_ids else 0) | (0 if follow_symlinks else AT_SYMLINK_NOFOLLOW)
    try:
        faccessat2(path, mode, dir_fd=dir_fd, flags=flags)
    except OSError:
        return False
    return True


# The plain case in C: faccessat2(AT_FDCWD, path, mode, flags); once this thread
# knows it filtered or missing, _fallback(path, raw, mode, AT_FDCWD, flags).
_PATH = Param("path", "path", reg=1)
_MODE = Param("mode", hi=7, reg=2)
_DIR_FD = Param("dir_fd", "none", None)
_REGISTERS = (AT_FDCWD, 0, 0, 0)
_FALLBACK_ARGS = (Given("path"), Encoded("path"), Register(2), Register(0), Register(3))
faccessat2 = entry("faccessat2", _faccessat2, _fallback, (
    _PATH, _MODE, _DIR_FD, Param("flags", default=0, reg=3)), _REGISTERS, "none",
    errors="raise", positional=2, fallback_args=_FALLBACK_ARGS)
access = entry("faccessat2", _access, _fallback, (
    _PATH, _MODE, _DIR_FD, Param("effective_ids", "bool", False, reg=3, bits=(AT_EACCESS, 0)),
    Param("follow_symlinks", "bool", True, reg=3, bits=(0, AT_SYMLINK_NOFOLLOW))),
    _REGISTERS, "bool", positional=2, fallback_args=_FALLBACK_ARGS)
