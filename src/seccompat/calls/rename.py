"""renameat2(2): rename with RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT."""

from __future__ import annotations

import errno as E
import os
import stat
from typing import Any

from ._kernel import (
    FALLBACK,
    SyscallUnavailable,
    attempt,
    dir_fd_arg,
    flags_arg,
    fs_path,
    oserror,
    unavailable,
)

__all__ = ["RENAME_EXCHANGE", "RENAME_NOREPLACE", "RENAME_WHITEOUT", "renameat2"]

RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 0x1, 0x2, 0x4


def renameat2(src: Any, dst: Any, flags: int = 0, *, src_dir_fd: Any = None,
              dst_dir_fd: Any = None) -> None:
    """renameat2(2) -- rename *src* to *dst*.

    RENAME_NOREPLACE fails with EEXIST instead of replacing; RENAME_EXCHANGE swaps
    the two atomically; RENAME_WHITEOUT leaves a whiteout.  Linux 3.15.  Fallback:
    flags 0 is renameat(2); RENAME_NOREPLACE is link(2) then unlink(2) for
    non-directories (atomic: it never replaces; both names exist for a moment);
    EXCHANGE, WHITEOUT and NOREPLACE on a directory raise SyscallUnavailable.
    """
    raw_src, raw_dst = fs_path(src, "src"), fs_path(dst, "dst")
    flags = flags_arg(flags)
    sfd, dfd = dir_fd_arg(src_dir_fd), dir_fd_arg(dst_dir_fd)
    try:
        if attempt("renameat2", (sfd, raw_src, dfd, raw_dst, flags)) \
                is not FALLBACK:
            return
    except OSError as exc:
        raise oserror(exc, src, dst) from None
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or \
            (flags & RENAME_NOREPLACE and flags & RENAME_EXCHANGE):
        raise oserror(E.EINVAL, src, dst)
    s_dir, d_dir = (None if sfd == -100 else sfd), (None if dfd == -100 else dfd)
    try:
        if flags == 0:
            os.rename(raw_src, raw_dst, src_dir_fd=s_dir, dst_dir_fd=d_dir)
            return
        if flags != RENAME_NOREPLACE:
            raise unavailable("renameat2")
        st = os.stat(raw_src, dir_fd=s_dir, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise unavailable("renameat2")
        if raw_src == raw_dst and s_dir == d_dir:
            raise oserror(E.EEXIST, src, dst)  # the kernel: dst exists
        os.link(raw_src, raw_dst, src_dir_fd=s_dir, dst_dir_fd=d_dir, follow_symlinks=False)
        try:
            os.unlink(raw_src, dir_fd=s_dir)
        except OSError:
            os.unlink(raw_dst, dir_fd=d_dir)  # undo: leave things as they were
            raise
    except SyscallUnavailable:
        raise
    except OSError as exc:
        raise oserror(exc, src, dst) from None
