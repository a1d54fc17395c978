"""pidfd_open(2), pidfd_send_signal(2), pidfd_getfd(2): no emulation is possible.

A pidfd is a kernel object; nothing in userspace can stand in for one.  When the
kernel lacks these calls or a filter blocks them, they raise
:class:`~seccompat.calls.SyscallUnavailable` (errno ENOSYS, with the verdict), so
callers take their PID-based path.  A genuine EPERM (no permission to signal the
target) is raised as PermissionError.
"""

from __future__ import annotations

from ._kernel import (
    FALLBACK,
    FileDescriptorLike,
    attempt,
    flags_arg,
    int_arg,
    oserror,
    to_fd,
    unavailable,
)

__all__ = ["PIDFD_NONBLOCK", "PIDFD_THREAD", "pidfd_getfd", "pidfd_open", "pidfd_send_signal"]

PIDFD_NONBLOCK = 0o4000  # O_NONBLOCK
PIDFD_THREAD = 0o200  # O_EXCL (6.9)


def _call(name: str, args: tuple[int, ...]) -> int:
    try:
        result = attempt(name, args)
    except OSError as exc:
        raise oserror(exc) from None
    if result is FALLBACK:
        raise unavailable(name)
    return int(result)


def pidfd_open(pid: int, flags: int = 0) -> int:
    """pidfd_open(2) -- a file descriptor for process *pid* (close-on-exec).

    Linux 5.3.  No fallback: raises SyscallUnavailable when blocked or missing.
    """
    return _call("pidfd_open", (int_arg(pid, "pid"), flags_arg(flags)))


def pidfd_send_signal(pidfd: FileDescriptorLike, sig: int, siginfo: None = None,
                      flags: int = 0) -> None:
    """pidfd_send_signal(2) -- send *sig* to the process *pidfd* refers to.

    Linux 5.1.  *siginfo* must be None (a kill(2)-like siginfo).  No fallback.
    """
    if siginfo is not None:
        raise ValueError("siginfo is not supported; pass None")
    _call("pidfd_send_signal", (to_fd(pidfd, "pidfd"), int_arg(sig, "sig"), 0,
                                flags_arg(flags)))


def pidfd_getfd(pidfd: FileDescriptorLike, targetfd: int, flags: int = 0) -> int:
    """pidfd_getfd(2) -- a duplicate of descriptor *targetfd* of the process *pidfd*
    refers to (needs PTRACE_MODE_ATTACH_REALCREDS).  Linux 5.6.  No fallback."""
    return _call("pidfd_getfd", (to_fd(pidfd, "pidfd"), to_fd(targetfd, "targetfd"),
                                 flags_arg(flags)))
