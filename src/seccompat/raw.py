"""The one place that issues raw syscalls: syscall(2) through libc.

``syscall(nr, *args)`` returns ``(result, errno)`` and never raises for a kernel
error.  An argument is an int, or ``bytes`` (passed as a pointer to its
NUL-terminated data, for paths) or a ``bytearray`` (a pointer to its buffer, for
results the kernel writes).  Every int travels as a full 64-bit ``long``: ctypes passes a bare
Python int to a variadic function as a 32-bit C ``int`` and rejects larger ones,
so the fallback wraps each argument in ``c_long`` and declares the ``long``
return type (the default ``int`` would cut 64-bit results such as lseek offsets).

An optional C accelerator (``seccompat._rawcall``, built when a compiler is
present at install time) makes the same call without ctypes' conversion cost.
``IMPLEMENTATION`` says which one is in use; both obey one contract and the test
suite checks them against each other.  ``fast`` is the accelerator module itself
(None without it): it also holds the C entries of the wrappers in
``seccompat.calls`` (the plain case of access, faccessat2, statx, getrandom,
copy_file_range, close_range and openat2, everything else handed to their Python
implementations).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Accelerator(Protocol):
        """What ``_rawcall`` (typed by ``_rawcall.pyi``) provides."""

        CODES: dict[str, dict[str, int]]

        def syscall(self, nr: int, *args: int | bytes | bytearray) -> tuple[int, int]: ...
        def fork_script(self, steps: tuple[tuple[int, ...], ...], out_fd: int,
                        alarm_seconds: int) -> int: ...
        def entry(self, implementation: Callable[..., object],
                  fallback: Callable[..., object] | None,
                  description: dict[str, object]) -> Callable[..., object]: ...
        def mark_doomed(self, syscall: str, key: tuple[int, ...] | None = None) -> None: ...

# The public part; ``fast`` (the accelerator module), ``libc`` and ``known_numbers``
# serve the package's own layers above.
__all__ = ["IMPLEMENTATION", "ctypes_syscall", "errno_name", "nr", "syscall"]

libc = ctypes.CDLL(None, use_errno=True)
_libc_syscall = libc.syscall
_libc_syscall.restype = ctypes.c_long

_LONG_MIN = -(2**63)
_ZEROS = [ctypes.c_long(0)] * 6
_ULONG_END = 2**64


def _as_long(value: int | bytes | bytearray) -> ctypes.c_long | ctypes.c_char_p:
    if type(value) is bytes:
        return ctypes.c_char_p(value)  # points at the object's own NUL-terminated data
    if type(value) is bytearray:
        return ctypes.c_long(ctypes.addressof((ctypes.c_char * len(value)).from_buffer(value))
                             if value else 0)
    if not isinstance(value, int):
        raise TypeError("syscall arguments must be int, bytes or bytearray, "
                        f"not {type(value).__name__}")
    if not _LONG_MIN <= value < _ULONG_END:
        raise ValueError("syscall argument out of range [-2**63, 2**64)")
    if value >= 2**63:
        value -= _ULONG_END
    return ctypes.c_long(value)


def ctypes_syscall(nr: int, *args: int | bytes | bytearray) -> tuple[int, int]:
    """syscall(2) through ctypes: ``(result, errno)``, errno 0 on success."""
    if len(args) > 6:
        raise TypeError("syscall() takes a number and at most 6 arguments")
    # Unused registers are 0, as the C accelerator passes them: what a filter sees
    # (and what the filter oracle is asked about) is then the same either way.
    converted = [_as_long(nr)] + [_as_long(a) for a in args] + _ZEROS[len(args):]
    result: int = _libc_syscall(*converted)
    return result, (ctypes.get_errno() if result == -1 else 0)


syscall: Callable[..., tuple[int, int]]
fast: Accelerator | None
try:
    if os.environ.get("SECCOMPAT_PURE_PYTHON"):
        raise ImportError("disabled by SECCOMPAT_PURE_PYTHON")
    from . import _rawcall
    from ._rawcall import syscall

    fast = _rawcall

    IMPLEMENTATION = "c"
except ImportError:
    fast = None
    syscall = ctypes_syscall
    IMPLEMENTATION = "ctypes"


_NUMBERS: dict[str, int] = {}


def nr(name: str) -> int:
    """This ABI's number for syscall *name*, looked up in the table once (LookupError
    for a name the ABI lacks).  The one way every layer gets a number."""
    number = _NUMBERS.get(name)
    if number is None:
        from .syscalls import lookup  # the table costs ~35 ms to import: only when asked

        number = _NUMBERS[name] = lookup(name).number
    return number


def known_numbers(numbers: dict[str, int]) -> None:
    """Seed :func:`nr` (``seccompat run``'s cached path knows the numbers it needs
    without importing the table)."""
    _NUMBERS.update(numbers)


def errno_name(err: int) -> str:
    """``"EPERM"`` for 1, ``"errno 4095"`` for numbers with no name."""
    return _errno.errorcode.get(err, f"errno {err}")
