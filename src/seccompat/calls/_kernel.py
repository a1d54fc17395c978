"""Kernel first, fallback only when the kernel cannot answer: the one mechanism
behind every wrapper, and the os-style argument and error helpers they share.

``attempt(name, args)`` makes the syscall and decides what a failure means:

* success, or any errno other than ENOSYS/EPERM: the kernel answered; return it;
* ENOSYS: the kernel (or a filter) lacks the call: fall back;
* EPERM: :func:`~seccompat.classify.eperm_is_filtered` with the same register
  arguments decides; filtered falls back, genuine is the answer.  A genuine EPERM
  is never emulated: for the calls whose fallback makes a security decision
  (:data:`seccompat._confirm.CONFIRMED`) the filters' own answer to the real
  arguments confirms the probe's verdict first.

After the first failure classified as filtered or not implemented, the verdict
(cached per thread and per probe arguments by the classifier) sends later calls
straight to the fallback without making the doomed syscall.
"""

from __future__ import annotations

import enum
import errno as E
import os
import sys
import threading
from collections.abc import Sequence
from typing import Final, Protocol

from .._classifier import Status, Verdict, cached, classify, eperm_is_filtered, falls_back, remember
from .._confirm import CONFIRMED, confirmed, confirmed_before
from .._probes import PROBES, ProbeSpec
from ..errors import SeccompatError
from ..raw import fast, nr, syscall

__all__ = ["AT_EACCESS", "AT_EMPTY_PATH", "AT_FDCWD", "AT_SYMLINK_NOFOLLOW", "FALLBACK",
           "FileDescriptorLike", "StrOrBytesPath",
           "FdOutOfRange", "SyscallUnavailable", "attempt", "dir_fd_arg",
           "flags_arg", "fs_path", "int_arg", "os_dir_fd", "oserror", "to_fd", "unavailable"]

AT_FDCWD = -100
#: The *at() flags the wrappers share (fcntl.h).
AT_SYMLINK_NOFOLLOW: int = 0x100
AT_EACCESS: int = 0x200
AT_EMPTY_PATH: int = 0x1000
#: A path as ``os`` takes one.
StrOrBytesPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]


class HasFileno(Protocol):
    def fileno(self) -> int: ...


#: A descriptor as ``os`` takes one: an int, or an object with ``fileno()``.
FileDescriptorLike = int | HasFileno


class _Fallback(enum.Enum):
    FALLBACK = "fall back"


#: ``attempt`` returns this when the caller must use its fallback (a typed sentinel).
FALLBACK: Final = _Fallback.FALLBACK


class SyscallUnavailable(SeccompatError, OSError):
    """The syscall cannot be used here (the kernel lacks it or a filter blocks it)
    and no emulation is possible.  ``errno`` is ENOSYS; ``verdict`` says how we
    know.  Callers take their older path (PIDs instead of pidfds, say)."""

    def __init__(self, name: str, verdict: Verdict | None, detail: str = "") -> None:
        super().__init__(E.ENOSYS, os.strerror(E.ENOSYS))  # as os builds an OSError
        self.verdict = verdict
        self.syscall = name
        self.detail = "; ".join(part for part in (
            verdict.evidence if verdict is not None else "", detail) if part)
        """Why: the classifier's evidence, and why no emulation serves this call."""

    def __str__(self) -> str:
        return f"{super().__str__()}: {self.syscall} is unavailable: {self.detail}"


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
_local = threading.local()


def _doomed() -> set[str]:
    """Names this thread has seen filtered or missing (any arguments)."""
    try:
        return _local.doomed  # type: ignore[no-any-return]
    except AttributeError:
        _local.doomed = set()
        return _local.doomed  # type: ignore[no-any-return]


def _doom(doomed: set[str], name: str, spec: ProbeSpec | None,
          probe: tuple[int, ...] | None) -> None:
    """Remember for this thread that *name* is filtered or missing; tell the C entries
    too, with the values of the kept arguments this verdict holds for (its *probe*)."""
    doomed.add(name)
    if fast is not None:
        fast.mark_doomed(name, None if spec is None or probe is None
                         else tuple([probe[i] for i in spec.kept]))


def attempt(name: str, args: Sequence[int | bytes | bytearray]) -> int | _Fallback:
    """Make syscall *name*; return its result, ``FALLBACK``, or raise ``OSError``.

    The hot path is the syscall alone: probe arguments and the verdict cache are
    consulted only after a failure, or when this thread has already seen the call
    fail as filtered or missing.  An ``OSError`` raised here carries the kernel's
    errno (no filename: callers add it with :func:`oserror`).  *args* may hold
    bytes (paths) and bytearrays (result buffers), as :func:`seccompat.raw.syscall`.
    """
    doomed = _doomed()
    spec = PROBES.get(name)
    if name in doomed and spec is not None:
        if spec.shape is None:
            return FALLBACK  # the verdict does not depend on the arguments
        probe = spec.probe_args(args)
        verdict = cached(name, probe)
        if verdict is not None and falls_back(verdict) and (
                verdict.status is Status.NOT_IMPLEMENTED or name not in CONFIRMED
                or confirmed_before(name, spec, args)):
            _doom(doomed, name, spec, probe)  # the C entries may not know this key yet
            return FALLBACK
    result, err = syscall(nr(name), *args)
    if err == 0:
        return result
    if err not in (E.ENOSYS, E.EPERM):
        raise OSError(err, os.strerror(err))
    if spec is None:  # no probe: ENOSYS is the only answer we can act on
        if err == E.ENOSYS:
            _doom(doomed, name, None, None)
            return FALLBACK
        raise OSError(err, os.strerror(err))
    probe = spec.probe_args(args)
    if err == E.ENOSYS:
        remember(name, probe, Verdict(name, Status.NOT_IMPLEMENTED, E.ENOSYS,
                                      "the call itself returned ENOSYS"))
        _doom(doomed, name, spec, probe)
        return FALLBACK
    if eperm_is_filtered(name, _ints(args)) and (
            name not in CONFIRMED or confirmed(name, spec, args)):
        _doom(doomed, name, spec, probe)
        return FALLBACK
    raise OSError(err, os.strerror(err))


def _ints(args: Sequence[int | bytes | bytearray]) -> tuple[int, ...]:
    # A buffer argument is a pointer: the transparent probe replaces it anyway.
    return tuple(a if isinstance(a, int) else 1 for a in args)


def unavailable(name: str, detail: str = "") -> SyscallUnavailable:
    """The exception for a call with no emulation (here), with the classifier's
    verdict and why the emulation could not serve this call."""
    return SyscallUnavailable(name, classify(name), detail)


def oserror(exc_or_errno: OSError | int, filename: object = None,
            filename2: object = None) -> OSError:
    """An OSError like the ``os`` module raises (the right subclass, with filenames)."""
    err = exc_or_errno.errno if isinstance(exc_or_errno, OSError) else exc_or_errno
    if err is None:
        err = E.EIO
    if filename2 is not None:
        return OSError(err, os.strerror(err), filename, None, filename2)
    if filename is not None:
        return OSError(err, os.strerror(err), filename)
    return OSError(err, os.strerror(err))


def fs_path(path: object, name: str = "path") -> bytes:
    """str, bytes or os.PathLike to bytes, as ``os`` does: TypeError for other types,
    ValueError for an embedded NUL."""
    if type(path) is str:  # the common case, as os.fsencode does it
        raw = path.encode(_FS_ENCODING, _FS_ERRORS)
    elif isinstance(path, (str, bytes)) or hasattr(path, "__fspath__"):
        raw = os.fsencode(path)
    else:
        raise TypeError(f"{name}: should be string, bytes or os.PathLike, "
                        f"not {type(path).__name__}")
    if b"\0" in raw:
        raise ValueError(f"{name}: embedded null character in {name}")
    return raw


class FdOutOfRange(SeccompatError, OverflowError, ValueError):
    """A descriptor no C int can hold: the OverflowError ``os`` raises, and a
    ValueError like every other bad argument here."""


def to_fd(value: object, name: str) -> int:
    """An int file descriptor, as ``os`` takes one: TypeError for another type,
    FdOutOfRange outside the C int range (a negative one is the kernel's EBADF)."""
    if (isinstance(value, bool) or not isinstance(value, int)) and hasattr(value, "fileno"):
        value = value.fileno()
    value = int_arg(value, name)
    if value >= 2**31:
        raise FdOutOfRange(f"{name}: fd is greater than maximum")
    if value < -(2**31):
        raise FdOutOfRange(f"{name}: fd is less than minimum")
    return int(value)


def dir_fd_arg(dir_fd: object) -> int:
    """``dir_fd=None`` means AT_FDCWD, as in ``os``."""
    return AT_FDCWD if dir_fd is None else to_fd(dir_fd, "dir_fd")


def os_dir_fd(fd: int) -> int | None:
    """The other way, for an ``os`` function's ``dir_fd``: AT_FDCWD is None."""
    return None if fd == AT_FDCWD else fd


def int_arg(value: object, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """*value* as an int argument, as ``os`` takes one: TypeError for another type
    (a bool too), ValueError outside ``lo <= value < hi`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if (lo is not None and value < lo) or (hi is not None and value >= hi):
        low = "" if lo is None else f"{lo}"
        high = "" if hi is None else f"{hi - 1}"
        raise ValueError(f"{name} {value} is out of range {low}..{high}")
    return int(value)


def flags_arg(value: object, name: str = "flags") -> int:
    """An unsigned int flags word."""
    return int_arg(value, name, 0, 2**32)
