"""Reading a user's input file safely: a regular file, and at most a bound.

A path on the command line may name a FIFO (open(2) and read(2) block), a device
(/dev/zero never ends) or a huge file; each is refused with one sentence before
anything large is read (open(2) with O_NONBLOCK never waits for a FIFO's writer).
"""

from __future__ import annotations

import os
import stat

from .errors import SeccompatError

__all__ = ["MAX_PROFILE_BYTES", "FileRefused", "read_regular"]

#: The largest seccomp profile accepted (the biggest real ones are ~30 KB).
MAX_PROFILE_BYTES = 16 << 20


class FileRefused(SeccompatError, ValueError):
    """The file is not a regular file, or is larger than the bound (the message does
    not repeat the path)."""


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The contents of regular file *path*, at most *limit* bytes; raises OSError
    (cannot open) or :class:`FileRefused`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise FileRefused(f"{kind}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(f"larger than {limit >> 20} MiB, the limit for a profile")
        return b"".join(chunks)
    finally:
        os.close(fd)
