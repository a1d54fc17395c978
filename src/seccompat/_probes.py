"""Side-effect-free probes: for each syscall, arguments the kernel must reject.

Some facts about probing a syscall without doing anything:

* seccomp filters see only the six register arguments, never the memory behind a
  pointer.  So the safest probe keeps the real call's flags and mode ("transparent":
  a rule keyed on flags takes the same branch) and fails only through dirfd -1 or a
  NULL pointer.  NULL is always paired with fd -1, never with AT_FDCWD, and never
  relied on with AT_EMPTY_PATH (since 6.11 NULL + AT_EMPTY_PATH means "the fd
  itself", which -1 turns into EBADF: still harmless).
* Where no pointer or fd is taken, contradictory or unknown flags make the kernel
  reject the call before it acts.  Each spec says why its arguments cannot act.
* Argument-check order changes between kernel versions (io_uring_register fd -1,
  open_by_handle_at, statx with AT_EMPTY_PATH, bpf), so the classifier never
  matches one exact errno: any answer other than EPERM or ENOSYS means the kernel
  itself ran.  ``expect`` documents what was measured, for the report.
* Some checks answer EPERM *before* argument validation ("gates": sysctls,
  capabilities, no_new_privs).  Each known gate has a check of the current state,
  so an EPERM it explains is reported as gated, never as a filter.
* A few calls have no safe probe at all (uretprobe and uprobe deliver SIGILL
  outside their trampoline; map_shadow_stack with valid arguments maps memory).
  They are listed in ``NEVER_PROBE`` and never invoked.

Measured on Linux 6.18 (x86_64) as root, unprivileged and unprivileged with
no_new_privs; the gate conditions follow the kernel sources cited per gate.
"""

from __future__ import annotations

import ctypes
import errno as E
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from . import _proc as proc
from .syscalls import kernel_version

__all__ = ["NEVER_PROBE", "PROBES", "Closed", "Gate", "ProbeSpec", "Slot"]

AT_FDCWD = -100
_BIG_FLAG = 0x80000000  # an undefined flag bit in every flags word probed here

# Structures some probes point at.  They live for the whole process and the
# kernel only reads them.
_OPEN_HOW_IN_ROOT = (ctypes.c_uint64 * 3)(0, 0, 0x10)  # flags, mode, RESOLVE_IN_ROOT
_ZERO_TIMESPEC = (ctypes.c_long * 2)(0, 0)


def _addr(obj: ctypes.Array[ctypes.c_uint64] | ctypes.Array[ctypes.c_long]) -> int:
    return ctypes.addressof(obj)


#: How a transparent probe derives each argument from the real call's arguments:
#: ``"fd"`` becomes -1, ``"ptr"`` becomes NULL, ``"keep"`` is passed unchanged, an
#: int is used as it is.
Slot = Literal["fd", "ptr", "keep"] | int


@dataclass(frozen=True)
class Closed:
    """Why a gate answers EPERM for this process now."""

    reason: str
    certain: bool = True
    """False: the gate *may* be closed (its namespace relation could not be read), so
    an EPERM is neither proof of a filter nor of the gate."""


@dataclass(frozen=True)
class Gate:
    """A kernel check that answers EPERM before the probe's arguments are looked at.

    Each is modelled in the user namespace the kernel checks it in: ``capable()``
    means the initial one, ``ns_capable(ns)`` a given one (user_namespaces(7))."""

    what: str
    """The condition, e.g. ``"kernel.io_uring_disabled=2"``."""
    closed: Callable[[], Closed | None]
    """Why the gate is (or may be) closed for this process now; None if it is open."""


@dataclass(frozen=True)
class ProbeSpec:
    """How to probe one syscall without any effect."""

    name: str
    args: tuple[int, ...]
    why: str
    """Why these arguments cannot have a side effect."""
    expect: frozenset[int] = frozenset()
    """Errnos (or 0 for success) measured without a filter; documentation only."""
    gates: tuple[Gate, ...] = ()
    shape: tuple[Slot, ...] | None = None
    """How to build a transparent probe from the real call's arguments."""
    returns_fd: bool = False
    """A success would return an fd; it is closed at once (defence in depth)."""
    genuine_eperm: str = ""
    """When the real call can fail with a genuine EPERM (documentation)."""
    notes: tuple[str, ...] = field(default=())

    @functools.cached_property
    def kept(self) -> tuple[int, ...]:
        """The argument positions a transparent probe passes unchanged: the only ones
        its verdict depends on (none without a shape)."""
        return tuple(i for i, slot in enumerate(self.shape or ()) if slot == "keep")

    @functools.cached_property
    def _template(self) -> list[int]:
        """The shape compiled once: the probe with every kept slot 0."""
        assert self.shape is not None
        return [-1 if slot == "fd" else 0 if slot in ("ptr", "keep") else int(slot)
                for slot in self.shape]

    def probe_args(self, real_args: Sequence[int | bytes | bytearray] | None = None,
                   ) -> tuple[int, ...]:
        """The probe's arguments, transparent to *real_args* when a shape is known
        (a buffer in a kept slot counts as 1: it is a pointer)."""
        if real_args is None or self.shape is None:
            return self.args
        out = self._template.copy()
        n = len(real_args)
        for i in self.kept:
            if i < n:
                value = real_args[i]
                out[i] = value if type(value) is int else int(value) \
                    if isinstance(value, int) else 1
        return tuple(out)

    def closed_gate(self) -> Closed | None:
        """Why a known gate answers (or may answer) EPERM for this process now, or
        None; a certain answer comes before an uncertain one."""
        found = None
        for gate in self.gates:
            closed = gate.closed()
            if closed is not None and closed.certain:
                return closed
            found = found or closed
        return found


# --- gates -----------------------------------------------------------------------

def _without(cap: str, where: str, has: bool | None) -> Closed | None:
    """The gate for a capability check in *where*: closed without it, uncertain when
    whether we hold it there cannot be read."""
    if has is None:
        return Closed(f"whether this process has {cap} in {where} cannot be read",
                      certain=False)
    return None if has else Closed(f"no {cap} in {where}")


_INITIAL = "the initial user namespace"


def _io_uring_gate() -> Closed | None:
    # io_uring/io_uring.c io_uring_allowed() (6.6+): 2 denies everyone; 1 denies
    # callers without capable(CAP_SYS_ADMIN), the initial namespace's, outside
    # kernel.io_uring_group (a gid of the initial namespace).
    value = proc.sysctl("kernel.io_uring_disabled")
    if value == "2":
        return Closed("kernel.io_uring_disabled=2 denies io_uring to every process")
    if value != "1":
        return None
    admin = proc.capable("CAP_SYS_ADMIN")
    if admin:
        return None
    group = proc.sysctl("kernel.io_uring_group")
    gid = int(group) if group and group.lstrip("-").isdigit() else -1
    if gid >= 0 and proc.in_initial_group(gid):
        return None
    closed = _without("CAP_SYS_ADMIN", _INITIAL, admin)
    reason = "kernel.io_uring_disabled=1, this process is not in kernel.io_uring_group"
    return Closed(f"{reason} and {closed.reason}" if closed else reason,
                  certain=closed.certain if closed else True)


def _userfaultfd_gate() -> Closed | None:
    # fs/userfaultfd.c: before 5.11 the sysctl check ran first and
    # UFFD_USER_MODE_ONLY did not exist; since 5.11 the probe's USER_MODE_ONLY
    # passes userfaultfd_syscall_allowed().  capable(): the initial namespace.
    if kernel_version() >= (5, 11) or proc.sysctl("vm.unprivileged_userfaultfd") != "0":
        return None
    closed = _without("CAP_SYS_PTRACE", _INITIAL, proc.capable("CAP_SYS_PTRACE"))
    return closed and Closed(f"vm.unprivileged_userfaultfd=0 and {closed.reason} "
                             "(kernel < 5.11)", closed.certain)


def _bpf_gate() -> Closed | None:
    # kernel/bpf/syscall.c: before 6.5 __sys_bpf() returned EPERM first when
    # unprivileged BPF was disabled and !bpf_capable() (capable(CAP_BPF) or
    # capable(CAP_SYS_ADMIN): the initial namespace).
    value = proc.sysctl("kernel.unprivileged_bpf_disabled")
    if kernel_version() >= (6, 5) or value in (None, "0"):
        return None
    bpf, admin = proc.capable("CAP_BPF"), proc.capable("CAP_SYS_ADMIN")
    if bpf or admin:
        return None
    closed = _without("CAP_BPF or CAP_SYS_ADMIN", _INITIAL,
                      None if None in (bpf, admin) else False)
    return closed and Closed(f"kernel.unprivileged_bpf_disabled={value} and "
                             f"{closed.reason} (kernel < 6.5)", closed.certain)


def _mount_gate() -> Closed | None:
    # fs/namespace.c may_mount() / fs/fsopen.c: ns_capable(current->nsproxy->mnt_ns->
    # user_ns, CAP_SYS_ADMIN) before any argument: the mount namespace's owner.
    closed = _without("CAP_SYS_ADMIN", "the user namespace that owns this mount namespace",
                      proc.mount_ns_capable("CAP_SYS_ADMIN"))
    return closed and Closed(f"{closed.reason}: the mount API checks it before its "
                             "arguments", closed.certain)


def _landlock_gate() -> Closed | None:
    # security/landlock/syscalls.c landlock_restrict_self(): EPERM without
    # no_new_privs and without ns_capable(current_user_ns(), CAP_SYS_ADMIN) (our own
    # namespace: CapEff), before the flags check.
    if not proc.process_state().no_new_privs and not proc.has_capability("CAP_SYS_ADMIN"):
        return Closed("no no_new_privs and no CAP_SYS_ADMIN")
    return None


def _handle_gate() -> Closed | None:
    # fs/fhandle.c: until 6.10 ("fhandle: relax open_by_handle_at() permission
    # checks") capable(CAP_DAC_READ_SEARCH), the initial namespace's, came first.
    if kernel_version() >= (6, 10):
        return None
    closed = _without("CAP_DAC_READ_SEARCH", _INITIAL, proc.capable("CAP_DAC_READ_SEARCH"))
    return closed and Closed(f"{closed.reason} (kernel < 6.10 checks it first)",
                             closed.certain)


IO_URING = Gate("kernel.io_uring_disabled", _io_uring_gate)
USERFAULTFD = Gate("vm.unprivileged_userfaultfd", _userfaultfd_gate)
BPF = Gate("kernel.unprivileged_bpf_disabled", _bpf_gate)
MOUNT = Gate("CAP_SYS_ADMIN for the mount API", _mount_gate)
LANDLOCK = Gate("no_new_privs or CAP_SYS_ADMIN", _landlock_gate)
HANDLE = Gate("CAP_DAC_READ_SEARCH", _handle_gate)


def _s(name: str, args: tuple[int, ...], why: str, expect: set[int], *,
       gates: tuple[Gate, ...] = (), shape: tuple[Slot, ...] | None = None,
       returns_fd: bool = False, genuine_eperm: str = "",
       notes: tuple[str, ...] = ()) -> ProbeSpec:
    return ProbeSpec(name, args, why, frozenset(expect), gates, shape, returns_fd,
                     genuine_eperm, notes)


_FLAGS = "an undefined flag bit is rejected before the call acts"

_SPECS = [
    # --- old calls that wrappers fall back to ---------------------------------------
    _s("faccessat", (-1, 0, 0), "NULL path with fd -1: EFAULT; only reads anyway",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep")),
    _s("fchmodat", (-1, 0, 0), "NULL path with fd -1: EFAULT before any change",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep")),
    # --- 3.14 .. 4.x --------------------------------------------------------------
    _s("sched_setattr", (0, 0, 0), "NULL attr: EINVAL before the task is touched",
       {E.EINVAL}),
    _s("sched_getattr", (0, 0, 0, 0), "NULL attr: EINVAL before any copy", {E.EINVAL}),
    _s("renameat2", (AT_FDCWD, 0, AT_FDCWD, 0, 3),
       "RENAME_NOREPLACE|RENAME_EXCHANGE is contradictory: EINVAL before path lookup",
       {E.EINVAL, E.EFAULT}, shape=("fd", "ptr", "fd", "ptr", "keep"),
       genuine_eperm="RENAME_WHITEOUT without CAP_MKNOD; sticky directories"),
    _s("seccomp", (0x7FFFFFFF, 0, 0), "unknown operation: EINVAL", {E.EINVAL}),
    _s("getrandom", (0, 0, _BIG_FLAG), _FLAGS + "; never waits for the CRNG", {E.EINVAL}),
    _s("memfd_create", (0, _BIG_FLAG),
       _FLAGS + " (checked before the name is copied; no MFD_EXEC warning)",
       {E.EINVAL}, returns_fd=True),
    _s("bpf", (0x7FFFFFFF, 0, 0), "unknown command: EINVAL", {E.EINVAL}, gates=(BPF,),
       returns_fd=True),
    _s("execveat", (-1, 0, 0, 0, 0), "NULL filename with fd -1: EFAULT before any lookup",
       {E.EFAULT, E.EBADF}),
    _s("userfaultfd", (0x40000001,),
       "UFFD_USER_MODE_ONLY plus an undefined bit: EINVAL (USER_MODE_ONLY avoids the "
       "sysctl gate on 5.11+)", {E.EINVAL}, gates=(USERFAULTFD,), returns_fd=True),
    _s("membarrier", (0, _BIG_FLAG, 0), _FLAGS, {E.EINVAL}),
    _s("mlock2", (0, 0, _BIG_FLAG), _FLAGS + " (checked before any page is locked)",
       {E.EINVAL}),
    _s("copy_file_range", (-1, 0, -1, 0, 1, 0), "fd -1: EBADF before any copy",
       {E.EBADF}, shape=("fd", "ptr", "fd", "ptr", "keep", "keep"),
       genuine_eperm="destination is immutable or append-only"),
    _s("preadv2", (-1, 0, 0, 0, 0, 0), "fd -1: EBADF", {E.EBADF}),
    _s("pwritev2", (-1, 0, 0, 0, 0, 0), "fd -1: EBADF", {E.EBADF}),
    _s("pkey_alloc", (1, 0), "flags must be 0: EINVAL before allocating a key",
       {E.EINVAL, E.ENOSPC}),
    _s("pkey_free", (-1,), "key -1 was never allocated: EINVAL", {E.EINVAL}),
    _s("pkey_mprotect", (1, 0, _BIG_FLAG, -1),
       "unaligned start: EINVAL before the (zero) length is looked at", {E.EINVAL}),
    _s("statx", (-1, 0, 0, 0x0FFF, 0), "NULL path with fd -1: EFAULT; read-only anyway",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep", "keep", "ptr")),
    _s("rseq", (0, 0, 0x40000000, 0),
       "undefined flag without RSEQ_FLAG_UNREGISTER: EINVAL, registration untouched",
       {E.EINVAL}, genuine_eperm="unregister with a wrong signature"),
    _s("io_pgetevents", (0, -1, 0, 0, 0, 0), "context 0 and min_nr -1: EINVAL",
       {E.EINVAL}),
    _s("kcmp", (0x7FFFFFFF, 0x7FFFFFFF, 0, 0, 0),
       "pid above PID_MAX_LIMIT never exists: ESRCH", {E.ESRCH},
       genuine_eperm="ptrace access check on the other process"),
    _s("perf_event_open", (0, 0, -1, -1, _BIG_FLAG), _FLAGS + " (before the paranoid check)",
       {E.EINVAL}, returns_fd=True),
    _s("name_to_handle_at", (-1, 0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL, E.EOPNOTSUPP}),
    _s("open_by_handle_at", (-1, 0, 0), "NULL handle with fd -1: EFAULT or EBADF",
       {E.EFAULT, E.EBADF}, gates=(HANDLE,), returns_fd=True),
    # --- 5.x --------------------------------------------------------------------
    _s("pidfd_send_signal", (-1, 0, 0, 0), "pidfd -1: EBADF before any signal",
       {E.EBADF}, shape=("fd", "keep", "ptr", "keep"),
       genuine_eperm="no permission to signal the target"),
    _s("io_uring_setup", (1, 0), "NULL params: EFAULT before a ring is created",
       {E.EFAULT}, gates=(IO_URING,), returns_fd=True),
    _s("io_uring_enter", (-1, 0, 0, 0, 0, 0), "fd -1: EBADF", {E.EBADF}),
    _s("io_uring_register", (-2, 0, 0, 0),
       "fd -2: EBADF (fd -1 means blind registration since 6.13)", {E.EBADF, E.EINVAL}),
    _s("open_tree", (-1, 0, 0x8000),
       "AT_RECURSIVE without OPEN_TREE_CLONE: EINVAL before may_mount()", {E.EINVAL},
       returns_fd=True),
    _s("move_mount", (-1, 0, -1, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}, gates=(MOUNT,)),
    _s("fsopen", (0, _BIG_FLAG), _FLAGS, {E.EINVAL}, gates=(MOUNT,), returns_fd=True),
    _s("fsconfig", (-1, 0, 0, 0, 0), "fd -1: EINVAL", {E.EINVAL, E.EBADF}),
    _s("fsmount", (-1, _BIG_FLAG, 0), _FLAGS, {E.EINVAL}, gates=(MOUNT,), returns_fd=True),
    _s("fspick", (-1, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}, gates=(MOUNT,), returns_fd=True),
    _s("pidfd_open", (0, 0), "pid 0 is invalid: EINVAL", {E.EINVAL}, shape=(0, "keep"),
       returns_fd=True),
    _s("clone3", (0, 0), "size 0 is below CLONE_ARGS_SIZE_VER0: EINVAL, nothing forked",
       {E.EINVAL, E.EFAULT}, shape=("ptr", "keep")),
    _s("close_range", (1, 0, 0), "first > last: EINVAL, nothing closed", {E.EINVAL},
       shape=(1, 0, "keep")),
    _s("openat2", (-1, 0, _addr(_OPEN_HOW_IN_ROOT), 24),
       "NULL path with fd -1 and a valid open_how: EFAULT before any lookup or create",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep", "keep"), returns_fd=True,
       genuine_eperm="O_NOATIME on another's file, file seals, LSMs"),
    _s("pidfd_getfd", (-1, -1, 0), "pidfd -1: EBADF", {E.EBADF},
       shape=("fd", "keep", "keep"), returns_fd=True,
       genuine_eperm="ptrace access check on the target"),
    _s("faccessat2", (-1, 0, 0, 0), "NULL path with fd -1: EFAULT; only reads anyway",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep", "keep"),
       genuine_eperm="W_OK on an immutable file"),
    _s("process_madvise", (-1, 0, 0, 20, 0), "pidfd -1: EBADF", {E.EBADF, E.EINVAL},
       genuine_eperm="CAP_SYS_NICE or ptrace check on the target"),
    _s("epoll_pwait2", (-1, 0, 1, _addr(_ZERO_TIMESPEC), 0, 0),
       "epfd -1 with a zero timeout: EBADF, never waits", {E.EBADF}),
    _s("mount_setattr", (-1, 0, _BIG_FLAG, 0, 0),
       _FLAGS + " (flags and size are checked before may_mount())", {E.EINVAL}),
    _s("quotactl_fd", (-1, 0, 0, 0), "fd -1: EBADF", {E.EBADF}),
    _s("landlock_create_ruleset", (0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL, E.EOPNOTSUPP},
       returns_fd=True),
    _s("landlock_add_rule", (-1, 0, 0, 1), "flags must be 0: EINVAL", {E.EINVAL}),
    _s("landlock_restrict_self", (-1, _BIG_FLAG),
       _FLAGS + " (valid flags with fd -1 could succeed: never used)",
       {E.EINVAL}, gates=(LANDLOCK,)),
    _s("memfd_secret", (_BIG_FLAG,), _FLAGS, {E.EINVAL}, returns_fd=True,
       notes=("ENOSYS when secretmem is disabled at boot",)),
    _s("process_mrelease", (-1, 0), "pidfd -1: EBADF", {E.EBADF}),
    _s("futex_waitv", (0, 0, 0, 0, 0), "zero futexes: EINVAL, never waits", {E.EINVAL}),
    _s("set_mempolicy_home_node", (0, 0, 0, 1), "flags must be 0: EINVAL", {E.EINVAL},
       notes=("ENOSYS without CONFIG_NUMA",)),
    # --- 6.x --------------------------------------------------------------------
    _s("cachestat", (-1, 0, 0, 0), "fd -1: EBADF", {E.EBADF}),
    _s("fchmodat2", (-1, 0, 0, 0), "NULL path with fd -1: EFAULT before any change",
       {E.EFAULT, E.EBADF}, shape=("fd", "ptr", "keep", "keep"),
       genuine_eperm="not the owner, or an immutable file"),
    _s("futex_wake", (0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("futex_wait", (0, 0, 0, _BIG_FLAG, 0, 0), _FLAGS + ", never waits", {E.EINVAL}),
    _s("futex_requeue", (0, 1, 0, 0), "flags must be 0: EINVAL", {E.EINVAL}),
    _s("statmount", (0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("listmount", (0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("lsm_get_self_attr", (0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("lsm_set_self_attr", (0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("lsm_list_modules", (0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("mseal", (0, 0, 1), "flags must be 0 (and length 0 seals nothing): EINVAL",
       {E.EINVAL}),
    _s("setxattrat", (-1, 0, 0, 0, 0, 0), "size below XATTR_ARGS_SIZE_VER0: EINVAL",
       {E.EINVAL}),
    _s("getxattrat", (-1, 0, 0, 0, 0, 0), "size below XATTR_ARGS_SIZE_VER0: EINVAL",
       {E.EINVAL}),
    _s("listxattrat", (-1, 0, _BIG_FLAG, 0, 0), _FLAGS, {E.EINVAL}),
    _s("removexattrat", (-1, 0, _BIG_FLAG, 0), _FLAGS, {E.EINVAL}),
    _s("open_tree_attr", (-1, 0, 0x8000, 0, 0),
       "AT_RECURSIVE without OPEN_TREE_CLONE: EINVAL", {E.EINVAL}, returns_fd=True),
    _s("file_getattr", (-1, 0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("file_setattr", (-1, 0, 0, 0, _BIG_FLAG), _FLAGS, {E.EINVAL}),
    _s("listns", (0, 0, 0, _BIG_FLAG), "NULL request and an undefined flag: EINVAL or "
       "EFAULT; it only lists", {E.EINVAL, E.EFAULT}),
]

#: Every probe, by syscall name.
PROBES: dict[str, ProbeSpec] = {spec.name: spec for spec in _SPECS}

#: Calls that are never invoked, with the reason.
NEVER_PROBE: dict[str, str] = {
    "uretprobe": "SIGILL outside the uretprobe trampoline; not filterable on x86_64 (6.14+)",
    "uprobe": "SIGILL (or ENXIO) outside the uprobe trampoline",
    "map_shadow_stack": "only invalid flags are safe, and no shadow-stack kernel was "
                        "measured; with valid arguments it maps memory",
    "rseq_slice_yield": "it yields the CPU when it works; nothing distinguishes success",
    "kexec_file_load": "for a caller with CAP_SYS_BOOT, kexec_load_permitted() decrements "
                       "kernel.kexec_load_limit_* before the flags are checked",
}
