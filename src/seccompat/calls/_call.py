"""The technique for any syscall in the table: call it, fall back only when it is
missing or filtered, raise genuine errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..syscalls import known, lookup
from ._kernel import FALLBACK, attempt, oserror, unavailable

__all__ = ["call"]

T = TypeVar("T")


def call(name: str, *args: int, fallback: Callable[[], T] | None = None) -> int | T:
    """Make syscall *name* with raw integer *args*; return its result.

    When the kernel lacks the call (ENOSYS) or a filter blocks it (an EPERM that
    :func:`~seccompat.eperm_is_filtered` classifies as filtered), run *fallback*
    and return its value, or raise SyscallUnavailable (an OSError with errno
    ENOSYS) without one.  Any other error, a genuine EPERM included, raises
    OSError with the kernel's errno.  Only syscalls with a side-effect-free probe
    can tell a filter's EPERM from a real one; for the others every EPERM is
    raised.  Example::

        fd = call("memfd_create", name_ptr, MFD_CLOEXEC,
                  fallback=lambda: os.open(tmpdir, os.O_TMPFILE | os.O_RDWR))
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a syscall name, not {type(name).__name__}")
    if not known(name):
        lookup(name)  # LookupError with a suggestion
    try:
        result = attempt(name, args)
    except OSError as exc:
        raise oserror(exc) from None
    if result is not FALLBACK:
        return int(result)
    if fallback is None:
        raise unavailable(name)
    return fallback()
