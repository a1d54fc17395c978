"""The package's own errors: every one derives from :class:`SeccompatError`, and also
from the builtin class a caller would catch for that kind of failure (``OSError`` for
a syscall that cannot be used, ``ValueError`` for bad input).  An ``OSError`` that the
kernel answered is raised as ``os`` raises it: the kernel's errno, its strerror, the
filename."""

from __future__ import annotations

__all__ = ["ChildFailed", "SeccompatError", "UnsupportedMachine"]


class SeccompatError(Exception):
    """Base of every error seccompat raises of its own."""


class ChildFailed(SeccompatError, RuntimeError):
    """A helper child process (probes, the filter oracle) ended without reporting."""


class UnsupportedMachine(SeccompatError, RuntimeError):
    """This machine's ABI is not one the syscall table covers."""
