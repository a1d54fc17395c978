"""statx(2), with an ``os.stat`` fallback that says which fields it could not fill."""

from __future__ import annotations

import errno as E
import os
import struct
from typing import NamedTuple

from ..proc import mount_id
from ..raw import fast
from ._kernel import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    attempt,
    c_entry,
    flags_arg,
    fs_path,
    oserror,
    to_fd,
)

__all__ = ["STATX_BASIC_STATS", "STATX_BTIME", "STATX_MNT_ID", "Statx", "statx"]

STATX_TYPE, STATX_MODE, STATX_NLINK, STATX_UID, STATX_GID = 0x1, 0x2, 0x4, 0x8, 0x10
STATX_ATIME, STATX_MTIME, STATX_CTIME, STATX_INO, STATX_SIZE = 0x20, 0x40, 0x80, 0x100, 0x200
STATX_BLOCKS, STATX_BASIC_STATS, STATX_BTIME, STATX_MNT_ID = 0x400, 0x7FF, 0x800, 0x1000
STATX_DIOALIGN, STATX_MNT_ID_UNIQUE, STATX_SUBVOL = 0x2000, 0x4000, 0x8000
_STATX_RESERVED = 0x80000000
AT_NO_AUTOMOUNT = 0x800
AT_STATX_SYNC_TYPE = 0x6000
_VALID_FLAGS = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE

# struct statx (include/uapi/linux/stat.h), 256 bytes.
_LAYOUT = struct.Struct("=IIQIIIHxxQQQQ" + "qIxxxx" * 4 + "IIIIQIIQ")


class Statx(NamedTuple):
    """A statx(2) result, with the field names of Python 3.15's ``os.statx``.

    A field whose ``STATX_*`` bit is missing from ``stx_mask`` is None: the
    kernel (or the fallback) did not fill it (``stx_mode`` needs both STATX_TYPE
    and STATX_MODE).  ``stx_blksize``, ``stx_attributes``, ``stx_attributes_mask``,
    ``stx_rdev`` and ``stx_dev`` are always filled.  A tuple, like
    ``os.stat_result``.
    """

    stx_mask: int
    stx_blksize: int
    stx_attributes: int
    stx_attributes_mask: int
    stx_nlink: int | None
    stx_uid: int | None
    stx_gid: int | None
    stx_mode: int | None
    stx_ino: int | None
    stx_size: int | None
    stx_blocks: int | None
    stx_atime_ns: int | None
    stx_btime_ns: int | None
    stx_ctime_ns: int | None
    stx_mtime_ns: int | None
    stx_rdev: int
    stx_dev: int
    stx_mnt_id: int | None
    stx_dio_mem_align: int | None
    stx_dio_offset_align: int | None
    stx_subvol: int | None

    @property
    def stx_atime(self) -> float | None:
        return None if self.stx_atime_ns is None else self.stx_atime_ns / 1e9

    @property
    def stx_btime(self) -> float | None:
        return None if self.stx_btime_ns is None else self.stx_btime_ns / 1e9

    @property
    def stx_ctime(self) -> float | None:
        return None if self.stx_ctime_ns is None else self.stx_ctime_ns / 1e9

    @property
    def stx_mtime(self) -> float | None:
        return None if self.stx_mtime_ns is None else self.stx_mtime_ns / 1e9


_new = tuple.__new__
_makedev = os.makedev


def _from_kernel(buf: bytes | bytearray) -> Statx:
    (mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, attributes_mask,
     a_s, a_ns, b_s, b_ns, c_s, c_ns, m_s, m_ns, rdev_ma, rdev_mi, dev_ma, dev_mi, mnt_id,
     dio_mem, dio_off, subvol) = _LAYOUT.unpack_from(buf)
    dio = mask & STATX_DIOALIGN
    type_mode = STATX_TYPE | STATX_MODE
    return _new(Statx, (
        mask, blksize, attributes, attributes_mask,
        nlink if mask & STATX_NLINK else None, uid if mask & STATX_UID else None,
        gid if mask & STATX_GID else None, mode if mask & type_mode == type_mode else None,
        ino if mask & STATX_INO else None, size if mask & STATX_SIZE else None,
        blocks if mask & STATX_BLOCKS else None,
        a_s * 1_000_000_000 + a_ns if mask & STATX_ATIME else None,
        b_s * 1_000_000_000 + b_ns if mask & STATX_BTIME else None,
        c_s * 1_000_000_000 + c_ns if mask & STATX_CTIME else None,
        m_s * 1_000_000_000 + m_ns if mask & STATX_MTIME else None,
        _makedev(rdev_ma, rdev_mi), _makedev(dev_ma, dev_mi),
        mnt_id if mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE) else None,
        dio_mem if dio else None, dio_off if dio else None,
        subvol if mask & STATX_SUBVOL else None))


def _fallback(path: object, raw: bytes | None, fd: int | None, flags: int, mask: int) -> Statx:
    """fstatat(2) for the basic fields; the mount id, only when *mask* asks for it,
    from /proc/self/fdinfo (statx(2) may leave unrequested fields unfilled).  After
    the kernel's flag checks; errors name *path*, as ``os.stat``'s do.  The C
    entry's doomed plain case calls it as ``(path, raw, None, flags, mask)``."""
    if flags & ~_VALID_FLAGS or flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE \
            or mask & _STATX_RESERVED:
        raise oserror(E.EINVAL, path)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    if raw is None or (raw == b"" and flags & AT_EMPTY_PATH):
        target: int | bytes = fd if fd is not None else b"."
    else:
        target = raw
    mnt_id = None
    try:
        if mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE):
            st, mnt_id = _stat_and_mount_id(target, fd, follow)
        elif type(target) is int:
            st = os.fstat(target)
        else:
            st = os.stat(target, dir_fd=fd, follow_symlinks=follow)
    except OSError as exc:
        raise oserror(exc, path) from None
    return _new(Statx, (
        STATX_BASIC_STATS | (STATX_MNT_ID if mnt_id is not None else 0), st.st_blksize, 0, 0,
        st.st_nlink, st.st_uid, st.st_gid, st.st_mode, st.st_ino, st.st_size, st.st_blocks,
        st.st_atime_ns, None, st.st_ctime_ns, st.st_mtime_ns, st.st_rdev, st.st_dev, mnt_id,
        None, None, None))


def _stat_and_mount_id(target: int | bytes, dir_fd: int | None,
                       follow: bool) -> tuple[os.stat_result, int | None]:
    """The status and mount id of *target* (an fd, or a path from *dir_fd*)."""
    if isinstance(target, int):
        return os.fstat(target), mount_id(target)
    fd = os.open(target, os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW),
                 dir_fd=dir_fd)
    try:
        return os.fstat(fd), mount_id(fd)
    finally:
        os.close(fd)


def _statx(path: StrOrBytesPath | FileDescriptorLike, mask: int = STATX_BASIC_STATS, *,
           dir_fd: FileDescriptorLike | None = None,
           follow_symlinks: bool = True, flags: int = 0) -> Statx:
    """statx(2) -- the status of *path* (a path, or an open fd as ``os.stat`` accepts).

    *mask* asks for fields (STATX_BASIC_STATS, STATX_BTIME, STATX_MNT_ID ...);
    ``stx_mask`` says which were filled.  *flags*: AT_NO_AUTOMOUNT,
    AT_STATX_SYNC_TYPE bits, AT_EMPTY_PATH.  Linux 4.11.  Fallback: fstatat(2) for
    the basic fields and, when *mask* asks for it, /proc/self/fdinfo for the mount
    id; it cannot give btime, attributes, DIO alignment, the subvolume or the unique
    mount id, and says so in ``stx_mask``.
    """
    flags = flags_arg(flags)
    mask = flags_arg(mask, "mask")
    if not follow_symlinks:
        flags |= AT_SYMLINK_NOFOLLOW
    if isinstance(path, int) and not isinstance(path, bool):
        if dir_fd is not None:
            raise ValueError("statx: can't specify dir_fd with an fd for path")
        fd: int | None = to_fd(path, "path")
        raw: bytes | None = None
        flags |= AT_EMPTY_PATH
    else:
        raw = fs_path(path)
        fd = None if dir_fd is None else to_fd(dir_fd, "dir_fd")
    buf = bytearray(256)
    args = (fd if fd is not None else AT_FDCWD, raw if raw is not None else b"", flags, mask, buf)
    try:
        if attempt("statx", args) is not FALLBACK:
            return _from_kernel(buf)
    except OSError as exc:
        raise oserror(exc, path) from None
    return _fallback(path, raw, fd, flags, mask)


if fast is not None and hasattr(fast, "set_statx_result"):
    fast.set_statx_result(Statx)  # the C entry builds the result itself
statx = c_entry("statx", "statx", _statx, _fallback)
