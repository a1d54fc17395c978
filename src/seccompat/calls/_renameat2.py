"""renameat2(2): rename with RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT."""

from __future__ import annotations

import errno as E
import os
import stat

from .._proc import fs_ids, has_capability
from ._attributes import STATX_ATTR_APPEND, STATX_ATTR_IMMUTABLE, protection
from ._faccessat2 import faccessat2
from ._kernel import (
    AT_EACCESS,
    FALLBACK,
    FileDescriptorLike,
    StrOrBytesPath,
    SyscallUnavailable,
    attempt,
    dir_fd_arg,
    flags_arg,
    fs_path,
    os_dir_fd,
    oserror,
    unavailable,
)

__all__ = ["RENAME_EXCHANGE", "RENAME_NOREPLACE", "RENAME_WHITEOUT", "renameat2"]

RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 0x1, 0x2, 0x4


def _inode(raw: bytes, dir_fd: int | None, open_flags: int) -> tuple[os.stat_result, int | None]:
    """The status and :func:`protection` attributes of the inode at *raw*, opened
    O_PATH with *open_flags* (O_NOFOLLOW, O_DIRECTORY)."""
    fd = os.open(raw, os.O_PATH | os.O_CLOEXEC | open_flags, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        return st, protection(fd, st.st_mode)
    finally:
        os.close(fd)


def _protected(raw: bytes, dir_fd: int | None, bits: int, follow: bool) -> bool:
    """Whether the inode at *raw* has one of the attribute *bits*.  Unknown (without
    statx(2), FS_IOC_GETFLAGS needs read access) counts as no: the caller is then
    told the emulation cannot serve, which is true either way."""
    try:
        _, found = _inode(raw, dir_fd, 0 if follow else os.O_NOFOLLOW)
    except OSError:
        return False
    return bool(found and found & bits)


def _rename_refuses_too(raw_src: bytes, s_dir: int | None, raw_dst: bytes,
                        d_dir: int | None) -> bool:
    """Whether rename(2) answers EPERM for the reason link(2) did: an immutable or
    append-only source (may_delete()), or an immutable destination directory."""
    return _protected(raw_src, s_dir, STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND, False) \
        or _protected(os.path.dirname(raw_dst) or b".", d_dir, STATX_ATTR_IMMUTABLE, True)


def _exists(raw: bytes, dir_fd: int | None) -> bool:
    try:
        os.stat(raw, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _unlink_refused(raw: bytes, dir_fd: int | None) -> int:
    """The errno unlink(2) of *raw* would answer for a reason link(2) does not check
    (fs/namei.c may_delete(), in its order), or 0: write and search permission on
    the directory (EACCES), an append-only directory (EPERM), the sticky-directory
    rule (EPERM unless the caller's fsuid owns the file or the directory, or it has
    CAP_FOWNER).  link(2) itself refuses an immutable or append-only file."""
    parent = os.path.dirname(raw) or b"."
    try:
        faccessat2(parent, os.W_OK | os.X_OK, dir_fd=dir_fd, flags=AT_EACCESS)
    except OSError as exc:
        return exc.errno or E.EACCES
    dir_st, flags = _inode(parent, dir_fd, os.O_DIRECTORY)
    if flags is None or flags & STATX_ATTR_APPEND:
        return E.EPERM  # append-only (or cannot tell: refuse rather than half-act)
    if dir_st.st_mode & stat.S_ISVTX:
        fsuid = fs_ids()[0]
        owner = os.stat(raw, dir_fd=dir_fd, follow_symlinks=False).st_uid
        if fsuid not in (owner, dir_st.st_uid) and not has_capability("CAP_FOWNER"):
            return E.EPERM
    return 0


def renameat2(src: StrOrBytesPath, dst: StrOrBytesPath, flags: int = 0, *,
              src_dir_fd: FileDescriptorLike | None = None,
              dst_dir_fd: FileDescriptorLike | None = None) -> None:
    """renameat2(2) -- rename *src* to *dst*.

    RENAME_NOREPLACE fails with EEXIST instead of replacing; RENAME_EXCHANGE swaps
    the two atomically; RENAME_WHITEOUT leaves a whiteout.  Linux 3.15.  Fallback:
    flags 0 is renameat(2); RENAME_NOREPLACE is link(2) then unlink(2) for
    non-directories (atomic: it never replaces; both names exist for a moment),
    after checking, in the kernel's order, every condition that would make that
    unlink(2) fail (the destination existing, the source directory's permission,
    append-only flag and sticky rule), so a refusal changes nothing (only a
    permission changed by another process between the check and the unlink could
    leave the new name behind);
    EXCHANGE, WHITEOUT, NOREPLACE on a directory, and NOREPLACE where link(2) is
    refused but rename(2) would not be (a file system without hard links,
    fs.protected_hardlinks, EMLINK) raise SyscallUnavailable.
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
    s_dir, d_dir = os_dir_fd(sfd), os_dir_fd(dfd)
    try:
        if flags == 0:
            os.rename(raw_src, raw_dst, src_dir_fd=s_dir, dst_dir_fd=d_dir)
            return
        if flags != RENAME_NOREPLACE:
            raise unavailable("renameat2", "RENAME_EXCHANGE and RENAME_WHITEOUT have no "
                              "emulation")
        st = os.stat(raw_src, dir_fd=s_dir, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise unavailable("renameat2", "RENAME_NOREPLACE of a directory has no emulation")
        if (raw_src == raw_dst and s_dir == d_dir) or _exists(raw_dst, d_dir):
            raise oserror(E.EEXIST, src, dst)  # the kernel: dst exists, before may_delete
        # Everything that would make the final unlink(src) fail is checked before
        # link(2) adds a name: a failure must leave nothing behind, and the undo
        # (unlink of the new name) may be refused for the same reasons.
        refused = _unlink_refused(raw_src, s_dir)
        if refused:
            raise oserror(refused, src, dst)
        try:
            os.link(raw_src, raw_dst, src_dir_fd=s_dir, dst_dir_fd=d_dir,
                    follow_symlinks=False)
        except OSError as exc:
            if exc.errno == E.EMLINK or (exc.errno == E.EPERM and not _rename_refuses_too(
                    raw_src, s_dir, raw_dst, d_dir)):
                # rename(2) adds no link: a file system without hard links,
                # fs.protected_hardlinks or a full link count refuse only the emulation.
                raise unavailable("renameat2", f"RENAME_NOREPLACE needs link(2), which "
                                  f"answered {E.errorcode[exc.errno]}") from None
            raise
        try:
            os.unlink(raw_src, dir_fd=s_dir)
        except OSError:
            os.unlink(raw_dst, dir_fd=d_dir)  # undo: leave things as they were
            raise
    except SyscallUnavailable:
        raise
    except OSError as exc:
        raise oserror(exc, src, dst) from None
