"""The kernel's access check, emulated: what faccessat2(2) answers, for when it
cannot be asked (:mod:`seccompat.calls._faccessat2` uses it).

The kernel's checks, in its order (fs/open.c do_faccessat, fs/namei.c
inode_permission and generic_permission), on one O_PATH descriptor so every check
sees the same inode:

1. X_OK on a regular file on a noexec mount: EACCES;
2. W_OK on a read-only file system (its superblock, from the super options in
   /proc/self/mountinfo; for files, directories and symlinks): EROFS;
3. W_OK on an immutable file: EPERM;
4. owner bits for the owner; else the POSIX ACL (``system.posix_acl_access``, with
   its mask); else the group bits for the file's group or a supplementary group;
   else the other bits; then CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
   right set (AT_EACCESS: the effective set and fs ids; otherwise the real ids and,
   as the kernel's access_override_creds does, the permitted set only for real
   uid 0);
5. W_OK granted on a read-only mount of a writable file system: EROFS.

Residual differences (the emulation errs towards denying): LSMs (SELinux,
AppArmor, Landlock) and the device cgroup are not consulted; idmapped mounts and
user-namespace id mapping are not applied; when the immutable flag cannot be read
(neither statx nor FS_IOC_GETFLAGS), W_OK is denied with EACCES.  Without
AT_EACCESS the path is walked with the real credentials, as the kernel does, by
switching this thread's filesystem ids (setfsuid(2)) and effective capabilities
(capset(2)) for the lookup; a Python signal handler that runs in that instant
would see them.
"""

from __future__ import annotations

import contextlib
import errno as E
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .. import _proc as proc
from .._capabilities import CAPABILITIES
from ..raw import nr, syscall
from ._attributes import STATX_ATTR_IMMUTABLE, protection
from ._kernel import AT_EACCESS, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, os_dir_fd

__all__ = ["creds", "emulate"]

_MAY_EXEC, _MAY_WRITE, _MAY_READ = 1, 2, 4
_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = \
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(frozen=True)
class _Creds:
    uid: int
    gid: int
    groups: frozenset[int]
    dac_override: bool
    dac_read_search: bool


def creds(effective: bool) -> _Creds:
    """The credentials an access check uses, from this thread's own (capget(2) and
    setfsuid(2) are per thread, as the kernel's creds): with *effective*, the
    filesystem ids and the effective capabilities; otherwise the real ids and, as
    access_override_creds() does, the permitted set for real uid 0, none else."""
    caps = _capget()
    if effective:
        uid, gid = _fs_ids()
        mask = caps[0] if caps is not None else proc.process_state().cap_effective
    else:
        uid, gid = os.getuid(), os.getgid()
        mask = 0 if uid != 0 else caps[1] if caps is not None else proc.cap_permitted()
    return _Creds(uid, gid, frozenset(os.getgroups()), bool(mask >> _CAP_DAC_OVERRIDE & 1),
                  bool(mask >> _CAP_DAC_READ_SEARCH & 1))


def _fs_ids() -> tuple[int, int]:
    """This thread's filesystem uid and gid: setfsuid(2)/setfsgid(2) with an invalid
    id change nothing and return the current one; /proc when a filter refuses them."""
    uid, err = syscall(nr("setfsuid"), _INVALID_ID)
    gid, err2 = syscall(nr("setfsgid"), _INVALID_ID)
    return (uid, gid) if not err and not err2 else proc.fs_ids()


def _in_group(creds: _Creds, gid: int) -> bool:
    return gid == creds.gid or gid in creds.groups


def _acl_check(acl: bytes, st: os.stat_result, creds: _Creds, want: int) -> int | None:
    """posix_acl_permission(): 0 or EACCES; None when the ACL has no say."""
    if len(acl) < 4 or struct.unpack_from("<I", acl)[0] != 2 or (len(acl) - 4) % 8:
        return None  # not a version-2 ACL: the mode bits decide
    entries = [struct.unpack_from("<HHI", acl, off) for off in range(4, len(acl), 8)]
    mask = next((perm for tag, perm, _ in entries if tag == _ACL_MASK), None)

    def masked(perm: int) -> int:
        ok = perm & want == want and (mask is None or perm & mask & want == want)
        return 0 if ok else E.EACCES

    found = False
    for tag, perm, ident in entries:
        if tag == _ACL_USER_OBJ and st.st_uid == creds.uid:
            return 0 if perm & want == want else E.EACCES
        if tag == _ACL_USER and ident == creds.uid:
            return masked(perm)
        if tag == _ACL_GROUP_OBJ and _in_group(creds, st.st_gid):
            found = True
            if perm & want == want:
                return masked(perm)
        if tag == _ACL_GROUP and _in_group(creds, ident):
            found = True
            if perm & want == want:
                return masked(perm)
        if tag == _ACL_OTHER:
            if found:
                return E.EACCES
            return 0 if perm & want == want else E.EACCES
    return E.EACCES


def _generic_permission(st: os.stat_result, acl: bytes | None, creds: _Creds, want: int) -> int:
    """fs/namei.c generic_permission(): mode bits or ACL, then capabilities."""
    mode = st.st_mode
    if st.st_uid == creds.uid:
        result = E.EACCES if want & ~(mode >> 6) & 7 else 0
    else:
        from_acl = _acl_check(acl, st, creds, want) if acl and mode & stat.S_IRWXG else None
        if from_acl is not None:
            result = from_acl
        else:
            bits = mode
            if want & (mode ^ (mode >> 3)) and _in_group(creds, st.st_gid):
                bits >>= 3
            result = E.EACCES if want & ~bits & 7 else 0
    if result != E.EACCES:
        return result
    if stat.S_ISDIR(mode):
        if not want & _MAY_WRITE and creds.dac_read_search:
            return 0
        return 0 if creds.dac_override else E.EACCES
    if want == _MAY_READ and creds.dac_read_search:
        return 0
    if (not want & _MAY_EXEC or mode & 0o111) and creds.dac_override:
        return 0
    return E.EACCES


_CAP_VERSION_3 = 0x20080522
_CAP_DAC_OVERRIDE = CAPABILITIES["CAP_DAC_OVERRIDE"]
_CAP_DAC_READ_SEARCH = CAPABILITIES["CAP_DAC_READ_SEARCH"]
_INVALID_ID = 0xFFFFFFFF  # (uid_t)-1
_CAP_HEADER = struct.Struct("=II")
_CAP_DATA = struct.Struct("=6I")


def _capget() -> tuple[int, int, int] | None:
    """This thread's (effective, permitted, inheritable) capability masks (capget(2))."""
    header, data = bytearray(_CAP_HEADER.pack(_CAP_VERSION_3, 0)), bytearray(_CAP_DATA.size)
    _, err = syscall(nr("capget"), header, data)
    if err:
        return None
    eff_lo, prm_lo, inh_lo, eff_hi, prm_hi, inh_hi = _CAP_DATA.unpack(data)
    return eff_lo | eff_hi << 32, prm_lo | prm_hi << 32, inh_lo | inh_hi << 32


def _capset(effective: int, permitted: int, inheritable: int) -> bool:
    """Set this thread's capability masks (capset(2)); whether it worked."""
    header = bytearray(_CAP_HEADER.pack(_CAP_VERSION_3, 0))
    data = _CAP_DATA.pack(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF,
                          inheritable & 0xFFFFFFFF, effective >> 32, permitted >> 32,
                          inheritable >> 32)
    _, err = syscall(nr("capset"), header, data)
    return err == 0


@contextlib.contextmanager
def _override_creds() -> Iterator[bool]:
    """What fs/open.c access_override_creds() does, for this thread only: the
    filesystem ids become the real ids and the effective capabilities the permitted
    set for real uid 0, none otherwise; the path walk itself then uses them.
    Yields False when this cannot be done (the emulation then denies)."""
    uid, gid = os.getuid(), os.getgid()
    old_fs = _fs_ids()
    old_caps = _capget()
    if old_caps is None:
        yield False
        return
    syscall(nr("setfsgid"), gid)
    syscall(nr("setfsuid"), uid)
    wanted = old_caps[1] if uid == 0 else 0
    ok = _capset(wanted, old_caps[1], old_caps[2]) and _fs_ids() == (uid, gid)
    try:
        yield ok
    finally:
        syscall(nr("setfsuid"), old_fs[0])
        syscall(nr("setfsgid"), old_fs[1])
        _capset(*old_caps)


def emulate(raw: bytes, mode: int, dir_fd: int, flags: int) -> int:
    """The kernel's checks, in its order; returns 0 or an errno."""
    who = creds(bool(flags & AT_EACCESS))
    if raw == b"" and flags & AT_EMPTY_PATH:
        fd, owned = dir_fd, False
    else:
        open_flags = os.O_PATH | os.O_CLOEXEC | (os.O_NOFOLLOW if flags & AT_SYMLINK_NOFOLLOW
                                                 else 0)
        at = os_dir_fd(dir_fd)
        if flags & AT_EACCESS or who == creds(True):
            fd = os.open(raw, open_flags, dir_fd=at)
        else:
            with _override_creds() as switched:
                if not switched:
                    return E.EACCES  # cannot walk with the real credentials: deny
                fd = os.open(raw, open_flags, dir_fd=at)
        owned = True
    try:
        st = os.fstat(fd)
        if mode == 0:
            return 0
        vfs = os.fstatvfs(fd)
        if mode & _MAY_EXEC and stat.S_ISREG(st.st_mode) and vfs.f_flag & os.ST_NOEXEC:
            return E.EACCES
        read_only = False
        if mode & _MAY_WRITE:
            kind = stat.S_IFMT(st.st_mode)
            read_only = bool(vfs.f_flag & os.ST_RDONLY) and \
                kind in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK)
            if read_only and ((mount := proc.mount_of(fd)) is None
                              or "ro" in mount.super_options):
                return E.EROFS  # sb_permission(), before any other check (unknown: so)
            protected = protection(fd, st.st_mode)
            if protected is None:
                return E.EACCES  # cannot be sure: deny
            if protected & STATX_ATTR_IMMUTABLE:
                return E.EPERM
        try:
            acl: bytes | None = os.getxattr(f"/proc/self/fd/{fd}", _ACL_XATTR)
        except OSError as exc:
            if exc.errno not in (E.ENODATA, E.EOPNOTSUPP, E.ENOTSUP):
                return E.EACCES  # cannot be sure: deny
            acl = None
        result = _generic_permission(st, acl, who, mode)
        # do_faccessat(): a read-only mount answers once permission is granted.
        return E.EROFS if result == 0 and read_only else result
    finally:
        if owned:
            os.close(fd)
