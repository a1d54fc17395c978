"""copy_file_range(2), with a pread/pwrite fallback of the same semantics."""

from __future__ import annotations

import ctypes
import errno as E
import fcntl
import os
import stat
from typing import Any

from ._kernel import FALLBACK, attempt, c_entry, oserror, to_fd

__all__ = ["copy_file_range"]

_CHUNK = 1 << 20


def _offset(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 0:
        raise oserror(E.EINVAL)
    return value


def _check_like_the_kernel(src: int, dst: int, count: int, off_src: int | None,
                           off_dst: int | None) -> None:
    """The argument checks of vfs_copy_file_range(), before any byte moves."""
    if src < 0 or dst < 0:
        raise oserror(E.EBADF)
    src_flags, dst_flags = fcntl.fcntl(src, fcntl.F_GETFL), fcntl.fcntl(dst, fcntl.F_GETFL)
    if src_flags & os.O_ACCMODE == os.O_WRONLY or dst_flags & os.O_ACCMODE == os.O_RDONLY \
            or dst_flags & os.O_APPEND:
        raise oserror(E.EBADF)
    st_src, st_dst = os.fstat(src), os.fstat(dst)
    for st in (st_src, st_dst):
        if stat.S_ISDIR(st.st_mode):
            raise oserror(E.EISDIR)
        if not stat.S_ISREG(st.st_mode):
            raise oserror(E.EINVAL)
    if (st_src.st_dev, st_src.st_ino) == (st_dst.st_dev, st_dst.st_ino):
        pos_src = off_src if off_src is not None else os.lseek(src, 0, os.SEEK_CUR)
        pos_dst = off_dst if off_dst is not None else os.lseek(dst, 0, os.SEEK_CUR)
        if pos_src < pos_dst + count and pos_dst < pos_src + count:
            raise oserror(E.EINVAL)  # overlapping ranges of one file


def _copy_file_range(src: Any, dst: Any, count: int, offset_src: int | None = None,
                     offset_dst: int | None = None) -> int:
    """copy_file_range(2) -- copy up to *count* bytes from fd *src* to fd *dst*.

    With an offset None the file offset is used and advanced; with an int it is
    used and the file offset is left alone.  Returns the bytes copied (0 at end of
    file).  Linux 4.5.  Fallback: pread/pwrite (read/write for None offsets) after
    the kernel's own argument checks (EBADF, EISDIR, EINVAL for overlapping ranges
    of one file); a genuine EPERM (immutable destination) comes from the write.
    Cross-filesystem EXDEV and EOPNOTSUPP are the kernel's answers and are raised.
    """
    src, dst = to_fd(src, "src"), to_fd(dst, "dst")
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if count < 0:
        raise ValueError("count must be non-negative")
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
        _check_like_the_kernel(src, dst, count, off_src, off_dst)
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


copy_file_range = c_entry("copy_file_range", "copy_file_range", _copy_file_range, _fallback)
