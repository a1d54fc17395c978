"""Confirm a filter's EPERM with the filters themselves, before an emulation that
matters for security runs.

A transparent probe differs from the real call only in its substitutes (fd -1, a
NULL pointer), and a filter may be keyed on exactly those: "EPERM when arg0 is -1"
makes the probe's EPERM a filter's while the real call's EPERM is the kernel's own
(an immutable file, a sticky directory).  Emulating then would answer where the
kernel refused.  So before the fallback of a call in :data:`CONFIRMED` runs, the
filter oracle (:mod:`seccompat._oracle`) evaluates the filters on the real call's
own six register values, without running it:

* ERRNO(EPERM) for those values: the filter refused this very call; fall back.
  Cached for the thread (filters are never removed).
* Anything else (the call passes every filter, or gets another answer): the EPERM
  was the kernel's; it is raised.  Not cached: a filter added later could change it.
* No oracle here (ptrace refused, no filter may be stacked, an outer seccomp
  supervisor): the probe's verdict stands, and is cached.  That is the residual
  assumption, stated in docs/how-the-probe-works.md: a filter whose rules tell the
  probe's fd -1 or NULL pointer from the real call's values.

The cache key is what a filter can test: every register value, except that a
pointer counts only as NULL or not (a filter could compare addresses, but they
change with every run under ASLR, and no profile does).
"""

from __future__ import annotations

import ctypes
import errno as E
from collections.abc import Sequence

from ._classifier import Status, Verdict, cached, remember
from ._probes import ProbeSpec
from .syscalls import lookup

__all__ = ["CONFIRMED", "confirmed", "registers"]

#: Calls whose fallback emulates a security decision (permissions, immutability,
#: path resolution): their EPERM is confirmed before the fallback runs.
CONFIRMED = frozenset({"faccessat2", "fchmodat2", "renameat2", "copy_file_range", "openat2"})


def registers(args: Sequence[int | bytes | bytearray]) -> tuple[int, ...]:
    """The six register values the kernel (and every filter) sees for *args*, as
    :func:`seccompat.raw.syscall` passes them: a buffer is its address, unused
    slots are 0."""
    out = []
    for value in args:
        if type(value) is bytes:
            out.append(ctypes.cast(ctypes.c_char_p(value), ctypes.c_void_p).value or 0)
        elif type(value) is bytearray:
            out.append(ctypes.addressof((ctypes.c_char * len(value)).from_buffer(value))
                       if value else 0)
        else:
            out.append(int(value) & 0xFFFFFFFFFFFFFFFF)
    return (*out, *(0,) * (6 - len(out)))


def _key(spec: ProbeSpec, args: Sequence[int | bytes | bytearray]) -> tuple[int, ...]:
    shape = spec.shape or ()
    out = []
    for i, value in enumerate(args):
        pointer = not isinstance(value, int) or (i < len(shape) and shape[i] == "ptr")
        out.append(int(bool(value)) if pointer else int(value))
    return tuple(out)


def _cache_name(name: str) -> str:
    return f"{name} (confirmed)"


def confirmed_before(name: str, spec: ProbeSpec, args: Sequence[int | bytes | bytearray],
                     ) -> bool:
    """Whether this thread already confirmed that the filters refuse a call like this."""
    verdict = cached(_cache_name(name), _key(spec, args))
    return verdict is not None


def confirmed(name: str, spec: ProbeSpec, args: Sequence[int | bytes | bytearray]) -> bool:
    """After the probe classified an EPERM of *name* called with *args* as a filter's:
    whether the filters refuse this very call (see the module docstring)."""
    key = _key(spec, args)
    if cached(_cache_name(name), key) is not None:
        return True
    from ._oracle import scan

    sc = lookup(name)
    # No tracer needed: an EPERM shows as itself, and an ENOSYS (allowed, or a
    # filter's ENOSYS) is not the EPERM this call got.
    answer = scan([(sc.number, registers(args))], pad=False, trace="none")[0]
    if answer.kind == "errno" and answer.errno == E.EPERM:
        evidence = "the filter oracle shows a filter answers EPERM to these very arguments"
    elif answer.kind == "unavailable":
        evidence = f"the probe's verdict; no exact oracle here ({answer.detail})"
    else:
        return False
    remember(_cache_name(name), key,
             Verdict(name, Status.FILTERED, E.EPERM, evidence, sc.number, sc.since))
    return True
