"""The three modes every wrapper test runs in: ``kernel`` (in a child, no extra
filter), ``eperm`` (a real filter answering EPERM for the new calls: the
fallbacks run) and ``enosys`` (the same with ENOSYS).  ``make test`` also runs
these tests under ``seccompat run --deny-newer-than 3.16`` (EPERM and ENOSYS),
where the outer filter itself forces the fallbacks; the modes that need to
install a filter skip there when seccomp(2) is denied."""


from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any

import pytest

from seccompat.bpf import Action

from ..kernel import (
    in_child,
)

NEW_CALLS = ["faccessat2", "statx", "close_range", "copy_file_range", "getrandom",
             "fchmodat2", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "renameat2",
             "memfd_create"]
MODES = ["kernel", "eperm", "enosys"]


@functools.cache
def filters_usable() -> bool:
    """Whether this process can stack a filter (seccomp(2), or prctl(2) when an outer
    filter refuses seccomp with ENOSYS or a classified EPERM): tried once, in a child."""
    from seccompat.bpf import Filter

    return in_child(lambda: True, filter=Filter.simple(Action.allow(), {})).error is None


def run_mode(mode: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a child: with no extra filter, or with the new calls filtered."""
    if mode == "kernel":
        return in_child(fn, *args).get()
    if not filters_usable():
        pytest.skip("an outer filter denies seccomp(2): the outer filter is the fallback test")
    err = errno.EPERM if mode == "eperm" else errno.ENOSYS
    return in_child(fn, *args, rules=dict.fromkeys(NEW_CALLS, Action.errno(err))).get()


def outcome(fn: Callable[[], Any]) -> Any:
    """A comparable result: the value, or (exception class name, errno, filename)."""
    try:
        return ("ok", fn())
    except OSError as exc:
        return (type(exc).__name__, exc.errno, exc.filename)
