"""Facts about this process and this machine: seccomp state, capabilities, sysctls.

All reads are fresh: a process can add seccomp filters, drop capabilities and
set no_new_privs at any time.  Sources: proc(5) ``/proc/thread-self/status``
(``Seccomp``, ``Seccomp_filters``, ``NoNewPrivs``, ``Cap*``), ``/proc/sys``,
prctl(2) ``PR_GET_SECCOMP``/``PR_GET_NO_NEW_PRIVS`` when /proc is missing.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from ._capabilities import CAPABILITIES
from .raw import nr, syscall

__all__ = [
    "PROC_SUPER_MAGIC",
    "PROC_USER_INIT_INO",
    "Mount",
    "ProcessState",
    "cap_permitted",
    "capable",
    "container_hints",
    "fs_ids",
    "fs_uid",
    "fs_magic",
    "has_capability",
    "in_initial_group",
    "in_initial_user_namespace",
    "mount_id",
    "mount_ns_capable",
    "mount_of",
    "process_state",
    "procfs_trusted",
    "seccomp_mode",
    "sysctl",
    "thread_count",
]


_PR_GET_SECCOMP = 21
_PR_GET_NO_NEW_PRIVS = 39
_STATUS = "/proc/thread-self/status"


@dataclass(frozen=True)
class ProcessState:
    """The seccomp-relevant state of the calling thread."""

    seccomp_mode: int
    """0 none, 1 strict, 2 filter (proc(5) ``Seccomp:``)."""
    seccomp_filters: int | None
    """Filters attached (``Seccomp_filters:``, Linux 5.9+; None if unknown)."""
    no_new_privs: bool
    cap_effective: int
    """The effective capability set as a bit mask."""


def _status_path() -> str:
    # /proc/thread-self appeared in 3.17; seccomp state is per thread.
    if os.path.exists(_STATUS):
        return _STATUS
    return f"/proc/self/task/{os.gettid() if hasattr(os, 'gettid') else os.getpid()}/status"


def _read_status() -> bytes | None:
    try:
        fd = os.open(_status_path(), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 8192)
    finally:
        os.close(fd)


def _field(status: bytes, key: bytes) -> bytes | None:
    start = status.find(b"\n" + key + b":")
    if start < 0:
        return None
    start += len(key) + 2
    end = status.find(b"\n", start)
    return status[start:end].strip()


def _prctl(option: int) -> int | None:
    result, err = syscall(nr("prctl"), option, 0, 0, 0, 0)
    return None if err else result


def seccomp_mode() -> int:
    """The calling thread's seccomp mode: 0 none, 1 strict, 2 filter.

    The cheap, strong signal behind every EPERM decision: 0 proves no filter
    answered.  Reads only the one field, for speed.
    """
    status = _read_status()
    if status is not None:
        value = _field(status, b"Seccomp")
        if value is not None:
            return int(value)
    mode = _prctl(_PR_GET_SECCOMP)
    # prctl itself may be filtered; with no answer, assume a filter is active.
    return 2 if mode is None else mode


def process_state() -> ProcessState:
    """Seccomp mode, filter count, no_new_privs and effective capabilities."""
    status = _read_status()
    if status is None:
        nnp = _prctl(_PR_GET_NO_NEW_PRIVS)
        return ProcessState(seccomp_mode(), None, bool(nnp), 0)

    def get(key: bytes) -> bytes | None:
        return _field(status, key)

    filters = get(b"Seccomp_filters")
    return ProcessState(
        seccomp_mode=int(get(b"Seccomp") or b"0"),
        seccomp_filters=int(filters) if filters is not None else None,
        no_new_privs=(get(b"NoNewPrivs") or b"0") == b"1",
        cap_effective=int(get(b"CapEff") or b"0", 16),
    )


def _id_field(key: bytes, index: int) -> int | None:
    status = _read_status()
    value = _field(status, key) if status is not None else None
    return None if value is None else int(value.split()[index])


def fs_uid() -> int | None:
    """The filesystem uid (proc(5) ``Uid:`` fourth field); None when /proc cannot say."""
    return _id_field(b"Uid", 3)


def fs_ids() -> tuple[int, int]:
    """The filesystem uid and gid (proc(5) ``Uid:``/``Gid:`` fourth field): what the
    kernel checks file permissions with (the effective ids where /proc cannot say)."""
    uid, gid = fs_uid(), _id_field(b"Gid", 3)
    return (uid, gid) if uid is not None and gid is not None else (os.geteuid(), os.getegid())


def thread_count() -> int:
    """How many threads this process has (proc(5) ``Threads:``, the same in every
    thread's status); 0 when /proc cannot say (callers then assume several)."""
    status = _read_status()
    value = _field(status, b"Threads") if status is not None else None
    return int(value) if value is not None and value.isdigit() else 0


def cap_permitted() -> int:
    """The permitted capability set as a bit mask (``CapPrm:``)."""
    status = _read_status()
    value = _field(status, b"CapPrm") if status is not None else None
    return int(value, 16) if value is not None else 0


def has_capability(name: str) -> bool:
    """Whether the calling thread has capability *name* (``"CAP_SYS_ADMIN"``) effective."""
    return bool(process_state().cap_effective >> CAPABILITIES[name] & 1)


# --- user namespaces: where a capability counts ---------------------------------
#
# capabilities(7), user_namespaces(7): a capability is held *in* a user namespace.
# ns_capable(ns, cap) is true when the caller has cap in its own user namespace and
# ns is that namespace or one of its descendants; capable(cap) asks about the
# initial user namespace, where a process in any other one has nothing.  CapEff in
# /proc shows the set in the caller's own namespace only.

PROC_USER_INIT_INO = 0xEFFFFFFD  # include/linux/proc_ns.h: the initial user namespace
_NS_GET_USERNS, _NS_GET_PARENT = 0xB701, 0xB702  # ioctl_ns(2), Linux 4.9


def in_initial_user_namespace() -> bool | None:
    """Whether this process is in the initial user namespace; None when /proc cannot
    say (nsfs gives every initial namespace a fixed inode number)."""
    try:
        return os.stat("/proc/self/ns/user").st_ino == PROC_USER_INIT_INO
    except OSError:
        return None


def capable(name: str) -> bool | None:
    """capable(*name*): the capability, effective, in the *initial* user namespace
    (what sysctl gates such as kernel.io_uring_disabled check); None when unknown."""
    initial = in_initial_user_namespace()
    return initial and has_capability(name) if initial is not None else None


def mount_ns_capable(name: str) -> bool | None:
    """ns_capable(mount namespace's owner, *name*): what may_mount() and the mount API
    check.  After unshare(CLONE_NEWUSER) alone the mount namespace still belongs to
    the parent user namespace, where this process has no capability.  None when the
    relation cannot be read (ioctl_ns(2) missing, no /proc)."""
    import fcntl

    try:
        mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        ours = os.stat("/proc/self/ns/user").st_ino
        owner = fcntl.ioctl(mnt, _NS_GET_USERNS)
    except OSError as exc:
        # EPERM: the owner lies outside our namespace's scope, so it is an ancestor.
        return False if exc.errno == errno.EPERM else None
    finally:
        os.close(mnt)
    first = True
    try:
        while True:
            if os.fstat(owner).st_ino == ours:
                if first:  # our own namespace owns it: CapEff decides
                    return has_capability(name)
                # A descendant's: our capability there, or ownership of a namespace
                # between (which this does not model), grants it.
                return has_capability(name) or None
            first = False
            try:
                parent = fcntl.ioctl(owner, _NS_GET_PARENT)
            except OSError as exc:
                if exc.errno == errno.EPERM:  # above our namespace: an ancestor's
                    return False
                return None
            os.close(owner)
            owner = parent
    finally:
        os.close(owner)


def _mapped_gid(kgid: int) -> int | None:
    """The id in this process's user namespace of global gid *kgid* (gid_map), or None."""
    try:
        with open("/proc/self/gid_map") as f:
            for line in f:
                inside, outside, count = (int(x) for x in line.split())
                if outside <= kgid < outside + count:
                    return inside + kgid - outside
    except (OSError, ValueError):
        pass
    return None


def in_initial_group(kgid: int) -> bool | None:
    """Whether gid *kgid* of the initial namespace (a sysctl's) is this process's
    effective or a supplementary group; None when that cannot be worked out (a user
    namespace below a child of the initial one: gid_map maps to the parent's ids)."""
    initial = in_initial_user_namespace()
    if initial is None:
        return None
    if not initial and not _parent_is_initial():
        return None
    gid = kgid if initial else _mapped_gid(kgid)
    return gid is not None and (gid == os.getegid() or gid in os.getgroups())


def _parent_is_initial() -> bool:
    import fcntl

    try:
        fd = os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        parent = fcntl.ioctl(fd, _NS_GET_PARENT)
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        return os.fstat(parent).st_ino == PROC_USER_INIT_INO
    finally:
        os.close(parent)


def sysctl(name: str) -> str | None:
    """The value of sysctl *name* (``"kernel.io_uring_disabled"``), None if absent."""
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


PROC_SUPER_MAGIC = 0x9FA0


def mount_id(fd: int) -> int | None:
    """The id of the mount *fd* is on (``mnt_id:`` in /proc/self/fdinfo, proc(5));
    None when /proc cannot say."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class Mount:
    """The file system behind a mount: one line of /proc/self/mountinfo (proc(5))."""

    device: str
    """``major:minor`` of the superblock: equal for two mounts of one file system."""
    fstype: str
    super_options: frozenset[str]
    """The file system's own options (``ro`` means the superblock is read-only)."""


def mount_of(fd: int) -> Mount | None:
    """The mount *fd* is on, from /proc/self/mountinfo; None when /proc cannot say."""
    mnt = mount_id(fd)
    if mnt is None:
        return None
    prefix = b"%d " % mnt
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                if line.startswith(prefix):  # id parent dev root ... - fstype source options
                    fields, tail = line.split(), line.rsplit(b" - ", 1)[1].split()
                    return Mount(fields[2].decode(), tail[0].decode(),
                                 frozenset(tail[2].decode().split(",")))
    except (OSError, IndexError, UnicodeDecodeError):
        pass
    return None


def fs_magic(path: str | int) -> int:
    """statfs(2) ``f_type`` of the file system holding *path*, or fstatfs(2) of a
    descriptor (raises OSError)."""
    import ctypes

    from .raw import libc

    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type (a long) comes first
    failed = libc.fstatfs(path, buf) if isinstance(path, int) else \
        libc.statfs(os.fsencode(path), buf)
    if failed != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return ctypes.c_long.from_buffer(buf).value


_PROC_CHECKED: tuple[int, bool] | None = None


def procfs_trusted() -> bool:
    """Whether /proc/self/fd lives on a real procfs (a fake /proc could redirect a
    path through its magic links).  statfs(2) once per /proc device: a /proc
    replaced later has another device and is checked again."""
    global _PROC_CHECKED
    try:
        dev = os.stat("/proc/self/fd").st_dev
    except OSError:
        return False
    if _PROC_CHECKED is None or _PROC_CHECKED[0] != dev:
        try:
            _PROC_CHECKED = (dev, fs_magic("/proc/self/fd") == PROC_SUPER_MAGIC)
        except OSError:
            return False
    return _PROC_CHECKED[1]


def container_hints() -> list[str]:
    """Signs that this process runs in a container, as short phrases (may be empty)."""
    hints = []
    for path, what in (("/.dockerenv", "docker"), ("/run/.containerenv", "podman")):
        if os.path.exists(path):
            hints.append(f"{what} ({path})")
    if os.environ.get("container"):  # noqa: SIM112 (systemd sets it in lower case)
        hints.append(f"container={os.environ['container']}")  # noqa: SIM112
    try:
        with open("/proc/1/cgroup") as f:
            cgroup = f.read()
    except OSError:
        cgroup = ""
    for marker in ("docker", "kubepods", "libpod", "lxc", "containerd"):
        if marker in cgroup:
            hints.append(f"{marker} cgroup")
            break
    return hints
