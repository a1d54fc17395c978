"""statx(2), with an ``os.stat`` fallback that says which fields it could not fill."""

from __future__ import annotations

import errno as E
import os
import struct
from typing import NamedTuple

from .._proc import mount_id
from ._entry import OUT, Const, Encoded, Given, Param, Register, entry
from ._kernel import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    attempt,
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

# struct statx (include/uapi/linux/stat.h), 256 bytes: where each Statx field is,
# and the STATX_* bits stx_mask must have (all of them, or any) for it to be filled.
# The one table both decoders read: _from_kernel here, and the C entry's.
_SIZE = 256
_FIELDS: tuple[tuple[str, int, int, bool], ...] = (
    ("u32", 0, 0, True), ("u32", 4, 0, True), ("u64", 8, 0, True), ("u64", 56, 0, True),
    ("u32", 16, STATX_NLINK, True), ("u32", 20, STATX_UID, True), ("u32", 24, STATX_GID, True),
    ("u16", 28, STATX_TYPE | STATX_MODE, True), ("u64", 32, STATX_INO, True),
    ("u64", 40, STATX_SIZE, True), ("u64", 48, STATX_BLOCKS, True),
    ("ns", 64, STATX_ATIME, True), ("ns", 80, STATX_BTIME, True),
    ("ns", 96, STATX_CTIME, True), ("ns", 112, STATX_MTIME, True),
    ("dev", 128, 0, True), ("dev", 136, 0, True),
    ("u64", 144, STATX_MNT_ID | STATX_MNT_ID_UNIQUE, False),
    ("u32", 152, STATX_DIOALIGN, True), ("u32", 156, STATX_DIOALIGN, True),
    ("u64", 160, STATX_SUBVOL, True))
_DECODE = {"u16": struct.Struct("=H").unpack_from, "u32": struct.Struct("=I").unpack_from,
           "u64": struct.Struct("=Q").unpack_from, "ns": struct.Struct("=qI").unpack_from,
           "dev": struct.Struct("=II").unpack_from}

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
    mask = _DECODE["u32"](buf)[0]
    values: list[int | None] = []
    for decoder, offset, bits, every in _FIELDS:
        if bits and (mask & bits != bits if every else not mask & bits):
            values.append(None)
            continue
        got = _DECODE[decoder](buf, offset)
        values.append(got[0] * 1_000_000_000 + got[1] if decoder == "ns"
                      else _makedev(*got) if decoder == "dev" else got[0])
    return _new(Statx, values)

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


# The plain case in C: statx(AT_FDCWD, path, flags, mask, buf), the Statx built
# from _FIELDS; once this thread knows it filtered or missing,
# _fallback(path, raw, None, flags, mask).
statx = entry("statx", _statx, _fallback, (
    Param("path", "path", reg=1), Param("mask", default=STATX_BASIC_STATS, reg=3),
    Param("dir_fd", "none", None),
    Param("follow_symlinks", "bool", True, reg=2, bits=(0, AT_SYMLINK_NOFOLLOW)),
    Param("flags", default=0, hi=0, reg=2)),
    (AT_FDCWD, 0, 0, 0, OUT), "struct", positional=2,
    struct=(Statx, _SIZE, 0, _FIELDS),
    fallback_args=(Given("path"), Encoded("path"), Const(None), Register(2), Register(3)))
