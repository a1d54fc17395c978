"""getrandom(2), with a /dev/urandom (or /dev/random) fallback."""

from __future__ import annotations

import errno as E
import os

from ._entry import OUT, Given, Param, entry
from ._kernel import FALLBACK, attempt, flags_arg, int_arg, oserror

__all__ = ["GRND_INSECURE", "GRND_NONBLOCK", "GRND_RANDOM", "getrandom"]

GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 0x1, 0x2, 0x4
_MAX_PER_CALL = 32 << 20  # a short read, as getrandom(2) itself may return


def _getrandom(size: int, flags: int = 0) -> bytes:
    """getrandom(2) -- up to *size* random bytes (``os.getrandom``'s semantics).

    GRND_NONBLOCK: EAGAIN instead of waiting for entropy; GRND_RANDOM: the
    /dev/random source; GRND_INSECURE (5.6+): never wait.  Linux 3.17.  Fallback:
    /dev/urandom (/dev/random for GRND_RANDOM), opened O_NONBLOCK for
    GRND_NONBLOCK; it cannot tell an uninitialised pool without GRND_NONBLOCK.
    At most 32 MiB are returned per call (a short read, which the API allows).
    """
    size = int_arg(size, "size", 0, 2**63)
    flags = flags_arg(flags)
    size = min(size, _MAX_PER_CALL)
    buf = bytearray(size)
    try:
        result = attempt("getrandom", (buf if size else 0, size, flags))
    except OSError as exc:
        raise oserror(exc) from None
    if result is not FALLBACK:
        return bytes(buf[:result]) if result != size else bytes(buf)
    return _fallback(size, flags)


def _fallback(size: int, flags: int = 0) -> bytes:
    """The emulation for a valid *size* (at most 32 MiB): the kernel's flag checks,
    then a read of /dev/urandom (/dev/random for GRND_RANDOM).  The C entry's
    doomed plain case calls it as ``(size, flags)``."""
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or \
            flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE:
        raise oserror(E.EINVAL)
    source = "/dev/random" if flags & GRND_RANDOM else "/dev/urandom"
    fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if flags & GRND_NONBLOCK
                                                        else 0))
    try:
        chunks, got = [], 0
        while got < size:
            chunk = os.read(fd, size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# The plain case in C: getrandom(buf, size, flags) for a size the kernel answers
# in one call; once this thread knows it filtered or missing, _fallback(size, flags).
getrandom = entry("getrandom", _getrandom, _fallback, (
    Param("size", hi=_MAX_PER_CALL, reg=1), Param("flags", default=0, reg=2)), (OUT, 0, 0),
    "bytes", out_param="size", fallback_args=(Given("size"), Given("flags")))
