"""copy_file_range(2), with a pread/pwrite fallback of the same semantics."""

from __future__ import annotations

import ctypes
import errno as E
import fcntl
import os
import resource
import signal
import stat
import threading

from .._proc import mount_of
from ._attributes import STATX_ATTR_IMMUTABLE, protection
from ._entry import Given, Param, entry
from ._kernel import FALLBACK, FileDescriptorLike, attempt, int_arg, oserror, to_fd

__all__ = ["copy_file_range"]

_CHUNK = 1 << 20


def _offset(value: object, name: str) -> int | None:
    if value is None:
        return None
    offset = int_arg(value, name)
    if offset < 0:
        raise oserror(E.EINVAL)
    return offset


_LOFF_MAX = 2**63 - 1  # MAX_LFS_FILESIZE, the largest s_maxbytes of any file system
#: File system types whose ->copy_file_range may copy between two of their superblocks.
_CROSS_SB = {"nfs": "nfs", "nfs4": "nfs", "cifs": "cifs", "smb3": "cifs", "ceph": "ceph",
             "overlay": "overlay"}


def _same_copy_domain(src: int, dst: int, st_src: os.stat_result,
                      st_dst: os.stat_result) -> bool:
    """Whether the kernel would copy between these files rather than answer EXDEV:
    one superblock, or two of a file system whose copy_file_range method spans
    them (generic_copy_file_checks()).  One st_dev is one superblock; otherwise
    /proc/self/mountinfo says (unknown: EXDEV, the usual answer across devices)."""
    if st_src.st_dev == st_dst.st_dev:
        return True
    a, b = mount_of(src), mount_of(dst)
    if a is None or b is None:
        return False
    return a.device == b.device or (a.fstype in _CROSS_SB
                                    and _CROSS_SB[a.fstype] == _CROSS_SB.get(b.fstype))


def _check_like_the_kernel(src: int, dst: int, count: int, off_src: int | None,
                           off_dst: int | None) -> int:
    """vfs_copy_file_range()'s checks in its order, before any byte moves; returns
    the count shortened to the source's end and the write limits, as the kernel
    copies at most that."""
    if src < 0 or dst < 0:
        raise oserror(E.EBADF)
    src_flags, dst_flags = fcntl.fcntl(src, fcntl.F_GETFL), fcntl.fcntl(dst, fcntl.F_GETFL)
    st_src, st_dst = os.fstat(src), os.fstat(dst)
    # generic_file_rw_checks()
    if stat.S_ISDIR(st_src.st_mode) or stat.S_ISDIR(st_dst.st_mode):
        raise oserror(E.EISDIR)
    if not stat.S_ISREG(st_src.st_mode) or not stat.S_ISREG(st_dst.st_mode):
        raise oserror(E.EINVAL)
    if src_flags & os.O_ACCMODE == os.O_WRONLY or dst_flags & os.O_ACCMODE == os.O_RDONLY \
            or dst_flags & os.O_APPEND:
        raise oserror(E.EBADF)
    # generic_copy_file_checks()
    if not _same_copy_domain(src, dst, st_src, st_dst):
        raise oserror(E.EXDEV)
    protected = protection(dst, st_dst.st_mode)
    if protected and protected & STATX_ATTR_IMMUTABLE:
        raise oserror(E.EPERM)
    pos_src = off_src if off_src is not None else os.lseek(src, 0, os.SEEK_CUR)
    pos_dst = off_dst if off_dst is not None else os.lseek(dst, 0, os.SEEK_CUR)
    if pos_src + count >= 2**64 or pos_dst + count >= 2**64:
        raise oserror(E.EOVERFLOW)  # the u64 sums wrap
    count = 0 if pos_src >= st_src.st_size else min(count, st_src.st_size - pos_src)
    count = _write_limits(pos_dst, count)
    if (st_src.st_dev, st_src.st_ino) == (st_dst.st_dev, st_dst.st_ino) \
            and pos_dst + count > pos_src and pos_dst < pos_src + count:
        raise oserror(E.EINVAL)  # overlapping ranges of one file
    return count


def _write_limits(pos: int, count: int) -> int:
    """generic_write_check_limits(): RLIMIT_FSIZE (SIGXFSZ and EFBIG at or past it),
    then the largest file any file system allows.  (A file system's own smaller
    maximum is left to the write, which checks it again.)"""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        if pos >= limit:
            signal.pthread_kill(threading.get_ident(), signal.SIGXFSZ)
            raise oserror(E.EFBIG)
        count = min(count, limit - pos)
    if pos >= _LOFF_MAX:
        raise oserror(E.EFBIG)
    return min(count, _LOFF_MAX - pos)


def _copy_file_range(src: FileDescriptorLike, dst: FileDescriptorLike, count: int,
                     offset_src: int | None = None, offset_dst: int | None = None) -> int:
    """copy_file_range(2) -- copy up to *count* bytes from fd *src* to fd *dst*.

    With an offset None the file offset is used and advanced; with an int it is
    used and the file offset is left alone.  Returns the bytes copied (0 at end of
    file).  Linux 4.5.  Fallback: pread/pwrite (read/write for None offsets) after
    the kernel's own checks in its order (``_check_like_the_kernel``: EISDIR,
    EINVAL, EBADF, EXDEV across file systems, EPERM for an immutable destination,
    EOVERFLOW, EFBIG, EINVAL for overlapping ranges of one file); the residual
    differences are listed in docs/compatibility.md.
    """
    src, dst = to_fd(src, "src"), to_fd(dst, "dst")
    count = int_arg(count, "count", 0)
    off_src, off_dst = _offset(offset_src, "offset_src"), _offset(offset_dst, "offset_dst")
    in_off, out_off = ctypes.c_int64(off_src or 0), ctypes.c_int64(off_dst or 0)
    args = (src, ctypes.addressof(in_off) if off_src is not None else 0, dst,
            ctypes.addressof(out_off) if off_dst is not None else 0, min(count, 2**63 - 1), 0)
    try:
        result = attempt("copy_file_range", args)
    except OSError as exc:
        raise oserror(exc) from None
    if result is not FALLBACK:
        return int(result)
    return _fallback(src, dst, count, off_src, off_dst)


def _fallback(src: int, dst: int, count: int, off_src: int | None, off_dst: int | None) -> int:
    """pread/pwrite (read/write for a None offset) after the kernel's checks.  The C
    entry's doomed plain case calls it as ``(src, dst, count, off_src, off_dst)``."""
    try:
        count = _check_like_the_kernel(src, dst, count, off_src, off_dst)
    except OSError as exc:
        raise oserror(exc) from None
    copied = 0
    while copied < count:
        want = min(_CHUNK, count - copied)
        try:
            data = os.pread(src, want, off_src + copied) if off_src is not None \
                else os.read(src, want)
            if not data:
                break
            view = memoryview(data)
            while view:
                wrote = os.pwrite(dst, view, off_dst + copied) if off_dst is not None \
                    else os.write(dst, view)
                view = view[wrote:]
                copied += wrote
        except OSError as exc:
            if copied:
                break  # as the kernel: report what was copied, the error comes next time
            raise oserror(exc) from None
    return copied


# The plain case in C: copy_file_range(src, &off_src or NULL, dst, &off_dst or NULL,
# count, 0); once this thread knows it filtered or missing, _fallback with the
# parameters as given.
_FD, _LOFF = 2**31 - 1, 2**63 - 1
copy_file_range = entry("copy_file_range", _copy_file_range, _fallback, (
    Param("src", hi=_FD, reg=0), Param("dst", hi=_FD, reg=2), Param("count", hi=_LOFF, reg=4),
    Param("offset_src", "pointed", None, reg=1, word=0, hi=_LOFF, none_ok=True),
    Param("offset_dst", "pointed", None, reg=3, word=1, hi=_LOFF, none_ok=True)),
    (0, 0, 0, 0, 0, 0), "int", words=(0, 0),
    fallback_args=tuple(Given(name) for name in ("src", "dst", "count", "offset_src",
                                                 "offset_dst")))
