"""The inode attributes that refuse a change whatever the permissions say: immutable
and append-only (ioctl_iflags(2); statx(2) ``stx_attributes``), as the fallbacks of
faccessat2, renameat2 and copy_file_range check them before the kernel would."""

from __future__ import annotations

import fcntl
import os
import stat
import sys

from ._kernel import AT_EMPTY_PATH
from ._statx import STATX_BASIC_STATS, statx

__all__ = ["STATX_ATTR_APPEND", "STATX_ATTR_IMMUTABLE", "protection"]

#: stx_attributes bits; FS_IOC_GETFLAGS uses the same values (FS_IMMUTABLE_FL, FS_APPEND_FL).
STATX_ATTR_IMMUTABLE, STATX_ATTR_APPEND = 0x10, 0x20
_FS_IOC_GETFLAGS = 0x80086601


def protection(fd: int, st_mode: int) -> int | None:
    """The immutable and append-only attributes (STATX_ATTR_IMMUTABLE|APPEND bits) of
    the inode open as *fd* (*st_mode* is its mode; an O_PATH fd will do):
    FS_IOC_GETFLAGS (ioctl_iflags(2), whose bits are the same) on the fd, else
    statx(2) attributes, else FS_IOC_GETFLAGS on a reopen through /proc; None when
    none can tell.  Only regular files and directories carry these flags, and only
    theirs are asked with an ioctl (a device's driver could read it otherwise)."""
    wanted = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND
    regular_or_dir = stat.S_ISREG(st_mode) or stat.S_ISDIR(st_mode)
    if regular_or_dir:
        found = _inode_flags(fd)  # EBADF for an O_PATH fd
        if found is not None:
            return found & wanted
    try:
        result = statx(fd, STATX_BASIC_STATS, flags=AT_EMPTY_PATH)
        if result.stx_attributes_mask & wanted == wanted:
            return result.stx_attributes & wanted
    except OSError:
        pass
    if not regular_or_dir:
        return 0
    try:
        # Reopening through /proc reads nothing and cannot block (O_NONBLOCK).
        flags_fd = os.open(f"/proc/self/fd/{fd}",
                           os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        found = _inode_flags(flags_fd)
    finally:
        os.close(flags_fd)
    return None if found is None else found & wanted


def _inode_flags(fd: int) -> int | None:
    """FS_IOC_GETFLAGS on *fd* (the kernel writes an int), None if it fails."""
    buf = bytearray(8)
    try:
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
    except OSError:
        return None
    return int.from_bytes(buf[:4], sys.byteorder)
