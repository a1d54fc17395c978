"""Fork a child that runs no Python at-fork hooks, and libc calls that keep the GIL.

``os.fork()`` runs the hooks registered with ``os.register_at_fork`` in the child;
``random`` reseeds there with getrandom(2), so under a filter that kills getrandom
a child made by ``os.fork()`` dies before it does anything.  :func:`fork` instead
calls libc's fork() through ``ctypes.PyDLL``: the GIL stays held and no Python
hook runs.  Python does not know about that child, so it should never release the
GIL (another parent thread may have been inside the GIL's own lock at the fork):
the :data:`gil` functions make syscalls, reads and writes while holding it.

The signal module serves only the main thread, so from any other thread
:func:`fork` falls back to ``os.fork()`` (and says so).
"""

from __future__ import annotations

import ctypes
import os
import threading

__all__ = ["GilLibc", "fork", "gil"]

_pylibc = ctypes.PyDLL(None, use_errno=True)


class GilLibc:
    """syscall(2), read(2) and write(2) called without releasing the GIL."""

    def __init__(self) -> None:
        self._syscall = _pylibc.syscall
        self._syscall.restype = ctypes.c_long
        self._read = _pylibc.read
        self._read.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
        self._read.restype = ctypes.c_ssize_t
        self._write = _pylibc.write
        self._write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
        self._write.restype = ctypes.c_ssize_t
        self._buf = ctypes.create_string_buffer(256)

    def syscall(self, nr: int, *args: int) -> tuple[int, int]:
        result = self._syscall(*(ctypes.c_long(a - 2**64 if a >= 2**63 else a)
                                 for a in (nr, *args)))
        return result, (ctypes.get_errno() if result == -1 else 0)

    def read(self, fd: int, size: int = 256) -> bytes:
        got = self._read(fd, self._buf, min(size, len(self._buf)))
        return self._buf.raw[:got] if got > 0 else b""

    def write(self, fd: int, data: bytes) -> None:
        self._write(fd, data, len(data))


gil = GilLibc()


def fork() -> tuple[int, bool]:
    """Fork; returns ``(pid, quiet)``.  *quiet* is True when no Python hook ran and
    the child must use :data:`gil` for its calls."""
    if threading.current_thread() is threading.main_thread():
        fork_fn = _pylibc.fork
        fork_fn.restype = ctypes.c_int
        pid = fork_fn()
        if pid < 0:
            raise OSError(ctypes.get_errno(), "fork failed")
        return pid, True
    return os.fork(), False
