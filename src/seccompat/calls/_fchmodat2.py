"""fchmodat2(2): chmod that can refuse to follow a symlink."""

from __future__ import annotations

import errno as E
import os
import stat

from .._proc import procfs_trusted
from ._kernel import (
    AT_SYMLINK_NOFOLLOW,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    attempt,
    dir_fd_arg,
    fs_path,
    int_arg,
    os_dir_fd,
    oserror,
)

__all__ = ["fchmodat2"]

def fchmodat2(path: StrOrBytesPath, mode: int, *, dir_fd: FileDescriptorLike | None = None,
              follow_symlinks: bool = True) -> None:
    """fchmodat2(2) -- change the mode of *path*; with ``follow_symlinks=False`` a
    symlink itself (which Linux refuses: EOPNOTSUPP) rather than its target.

    Linux 6.6.  Fallback: fchmodat(2) when following; otherwise, as glibc does, an
    O_PATH|O_NOFOLLOW descriptor (EOPNOTSUPP for a symlink) and chmod through
    /proc/self/fd, which repeats the kernel's ownership and immutability checks;
    without a trustworthy /proc it refuses with EOPNOTSUPP.
    """
    raw = fs_path(path)
    mode = int_arg(mode, "mode", 0, 2**32)
    fd = dir_fd_arg(dir_fd)
    flags = 0 if follow_symlinks else AT_SYMLINK_NOFOLLOW
    try:
        if attempt("fchmodat2", (fd, raw, mode, flags)) is not FALLBACK:
            return
        if follow_symlinks:
            if attempt("fchmodat", (fd, raw, mode)) is not FALLBACK:
                return
            raise oserror(E.ENOSYS)
        path_fd = os.open(raw, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=os_dir_fd(fd))
    except OSError as exc:
        raise oserror(exc, path) from None
    try:
        if os.fstatvfs(path_fd).f_flag & os.ST_RDONLY:
            raise oserror(E.EROFS, path)  # mnt_want_write(), before notify_change()
        if stat.S_ISLNK(os.fstat(path_fd).st_mode):
            raise oserror(E.EOPNOTSUPP, path)
        if not procfs_trusted():
            raise oserror(E.EOPNOTSUPP, path)
        try:
            os.chmod(f"/proc/self/fd/{path_fd}", mode)
        except OSError as exc:
            raise oserror(exc, path) from None
    finally:
        os.close(path_fd)
