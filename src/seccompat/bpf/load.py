"""Install a BPF program as a seccomp filter on the calling thread (seccomp(2)).

Unless the caller has CAP_SYS_ADMIN, the kernel requires no_new_privs first
(prctl(2) ``PR_SET_NO_NEW_PRIVS``); :func:`install` sets it by default.  Its
consequence is permanent for this process and its children: execve(2) of a setuid
or file-capability binary no longer raises privileges.
"""

from __future__ import annotations

import ctypes
import errno as E
import os

from ..raw import nr, syscall

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .insn import Insn


__all__ = [
    "FLAG_LOG",
    "FLAG_NEW_LISTENER",
    "FLAG_SPEC_ALLOW",
    "FLAG_TSYNC",
    "Prepared",
    "action_available",
    "install",
    "no_new_privs_args",
    "set_no_new_privs",
]

_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_GET_ACTION_AVAIL = 2
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

FLAG_TSYNC = 1
FLAG_LOG = 2
FLAG_SPEC_ALLOW = 4
FLAG_NEW_LISTENER = 8


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _check(result: int, err: int) -> int:
    if err:
        raise OSError(err, os.strerror(err))
    return result


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): irreversible for this process and its children."""
    _check(*syscall(*no_new_privs_args()))


class Prepared:
    """A program laid out as ``struct sock_fprog``, ready for seccomp(2).

    Build it before forking: a child then installs it with :meth:`args` and one
    raw syscall, with no allocation or Python machinery in between.
    """

    def __init__(self, program: tuple[Insn, ...] | list[Insn] | bytes) -> None:
        if not isinstance(program, bytes):
            from .insn import pack

            program = pack(program)
        self._code = ctypes.create_string_buffer(program)
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._code))
        self.address = ctypes.addressof(self._fprog)

    def args(self, flags: int = 0) -> tuple[int, int, int, int]:
        """``(nr, op, flags, fprog)`` for seccomp(SECCOMP_SET_MODE_FILTER)."""
        return nr("seccomp"), _SECCOMP_SET_MODE_FILTER, flags, self.address


def no_new_privs_args() -> tuple[int, ...]:
    """``(nr, ...)`` for prctl(PR_SET_NO_NEW_PRIVS, 1)."""
    return nr("prctl"), _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0


def install(program: tuple[Insn, ...] | list[Insn] | bytes, *, flags: int = 0,
            no_new_privs: bool = True) -> int:
    """Load *program* (instructions, or packed as ``struct sock_filter``s) on the
    calling thread (all threads with ``FLAG_TSYNC``).

    Returns the listener fd with ``FLAG_NEW_LISTENER``, else 0.  Raises ``OSError``
    (EACCES without no_new_privs or CAP_SYS_ADMIN, EINVAL for a program the kernel
    rejects, EPERM/ENOSYS when a filter forbids seccomp() and prctl(); a filter's
    ENOSYS or EPERM for seccomp() alone falls back to prctl(PR_SET_SECCOMP)); with
    ``FLAG_TSYNC``, a thread that cannot be synchronised gives ``ESRCH``.
    """
    if no_new_privs:
        set_no_new_privs()
    prepared = Prepared(program)
    result, err = syscall(*prepared.args(flags))
    if not flags and err in (E.ENOSYS, E.EPERM):
        # Before 3.17, or seccomp() refused by a filter (with ENOSYS or EPERM): the
        # prctl interface installs the same program.  seccomp(SET_MODE_FILTER) has no
        # EPERM of its own (no_new_privs missing is EACCES), and where an LSM refuses
        # it, prctl meets the same refusal: trying it decides nothing wrongly.
        result, err = syscall(nr("prctl"), _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER,
                              prepared.address, 0, 0)
    if err == 0 and flags & FLAG_TSYNC and not flags & FLAG_NEW_LISTENER and result > 0:
        raise OSError(E.ESRCH, os.strerror(E.ESRCH))  # thread *result* could not be synced
    return _check(result, err)


def action_available(action: int) -> bool:
    """Whether the kernel knows a SECCOMP_RET_* action (4.14+ can say; older kernels
    know ALLOW, ERRNO, TRAP, TRACE and KILL_THREAD)."""
    value = ctypes.c_uint32(action)
    _, err = syscall(nr("seccomp"), _SECCOMP_GET_ACTION_AVAIL, 0,
                     ctypes.addressof(value))
    if err == E.EINVAL:
        return False
    if err:
        return action & 0xFFFF0000 in (0x00000000, 0x00030000, 0x00050000, 0x7FF00000,
                                       0x7FFF0000)
    return True
