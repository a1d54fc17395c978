"""close_range(2), with a fallback over exactly the open descriptors."""

from __future__ import annotations

import errno as E
import fcntl
import os
import resource

from ..raw import nr, syscall
from ._entry import Given, Param, entry
from ._kernel import (
    FALLBACK,
    FdOutOfRange,
    attempt,
    flags_arg,
    int_arg,
    oserror,
    unavailable,
)

__all__ = ["CLOSE_RANGE_CLOEXEC", "CLOSE_RANGE_UNSHARE", "close_range"]

CLOSE_RANGE_UNSHARE = 0x2
CLOSE_RANGE_CLOEXEC = 0x4
_CLONE_FILES = 0x400
_UINT_MAX = 2**32 - 1


def _open_fds() -> list[int]:
    """The open descriptors: /proc/self/fd, else every number below RLIMIT_NOFILE."""
    try:
        listing = os.listdir("/proc/self/fd")
    except OSError:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return list(range(min(soft, 1 << 20)))
    # The listing's own descriptor is closed again by now: skip what is not open.
    return sorted(int(name) for name in listing)


def _close_range(first: int, last: int, flags: int = 0) -> None:
    """close_range(2) -- close (or, with CLOSE_RANGE_CLOEXEC, mark close-on-exec) every
    open descriptor from *first* to *last* inclusive (``last`` up to 2**32-1).

    CLOSE_RANGE_UNSHARE first gives this process its own descriptor table.
    Linux 5.9.  Fallback: unshare(CLONE_FILES) for UNSHARE, then close(2) or
    fcntl(F_SETFD) on exactly the open descriptors (from /proc/self/fd, else every
    number below RLIMIT_NOFILE).
    """
    for value, name in ((first, "first"), (last, "last")):
        if not 0 <= int_arg(value, name) <= _UINT_MAX:  # an unsigned int: the kernel's fd range
            raise FdOutOfRange(f"{name} {value} is out of range 0..2**32-1")
    flags = flags_arg(flags)
    try:
        if attempt("close_range", (first, last, flags)) is not FALLBACK:
            return
    except OSError as exc:
        raise oserror(exc) from None
    _fallback(first, last, flags)


def _fallback(first: int, last: int, flags: int = 0) -> None:
    """The kernel's checks, unshare(2) for CLOSE_RANGE_UNSHARE, then close(2) or
    FD_CLOEXEC on exactly the open descriptors in range.  The C entry's doomed
    plain case calls it as ``(first, last, flags)``."""
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise oserror(E.EINVAL)
    if flags & CLOSE_RANGE_UNSHARE:
        _, err = syscall(nr("unshare"), _CLONE_FILES)
        if err in (E.EPERM, E.ENOSYS):  # unshare(2) is filtered too: cannot emulate
            raise unavailable("close_range", "CLOSE_RANGE_UNSHARE needs unshare(CLONE_FILES), "
                              f"which answered {E.errorcode[err]}")
        if err:
            raise oserror(err)
    for fd in _open_fds():
        if first <= fd <= last:
            try:
                if flags & CLOSE_RANGE_CLOEXEC:
                    fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD)
                                | fcntl.FD_CLOEXEC)
                else:
                    os.close(fd)
            except OSError as exc:
                if exc.errno != E.EBADF:  # gone already: as the kernel, ignore
                    raise


# The plain case in C: close_range(first, last, flags); once this thread knows it
# filtered or missing, _fallback(first, last, flags).
close_range = entry("close_range", _close_range, _fallback, (
    Param("first", reg=0), Param("last", reg=1), Param("flags", default=0, reg=2)), (0, 0, 0),
    "none", fallback_args=(Given("first"), Given("last"), Given("flags")))
