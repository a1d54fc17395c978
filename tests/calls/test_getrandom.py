"""getrandom: the kernel and the /dev/urandom fallback."""


from __future__ import annotations

import errno
import functools
import os
import threading
from typing import Any

import pytest

from seccompat import calls as c
from seccompat.bpf import Action

from ..kernel import (
    in_child,
)
from .modes import MODES, filters_usable, outcome, run_mode

# --- getrandom -----------------------------------------------------------------

def _random_case() -> list[Any]:
    return [len(c.getrandom(0)), len(c.getrandom(64)), len(c.getrandom(32, c.GRND_NONBLOCK)),
            len(c.getrandom(16, c.GRND_INSECURE)), c.getrandom(32) != c.getrandom(32),
            outcome(lambda: c.getrandom(1, 0x80))[:2],
            outcome(lambda: c.getrandom(1, c.GRND_RANDOM | c.GRND_INSECURE))[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_getrandom(mode: str) -> None:
    assert run_mode(mode, _random_case) == [0, 64, 32, 16, True, ("OSError", errno.EINVAL),
                                           ("OSError", errno.EINVAL)]


def _unshare_case() -> list[Any]:
    """close_range(UNSHARE) in this thread: another thread, which shared the table,
    keeps the descriptor; this one loses it."""
    fd = os.open("/dev/null", os.O_RDONLY)
    ready, done, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        ready.set()
        done.wait()
        seen.append(outcome(lambda: os.fstat(fd))[0])

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait()
    got = outcome(lambda: c.close_range(fd, fd, c.CLOSE_RANGE_UNSHARE))[:2]
    here = outcome(lambda: os.fstat(fd))[0]
    done.set()
    thread.join()
    return [got, here, seen[0]]


@functools.cache
def _threads_usable() -> bool:
    """Whether threads can start here: glibc's pthread_create falls back from clone3
    only on ENOSYS, so under an EPERM profile older than 5.3 they cannot."""
    try:
        thread = threading.Thread(target=lambda: None)
        thread.start()
    except RuntimeError:
        return False
    thread.join()
    return True


@pytest.mark.parametrize("mode", MODES)
def test_close_range_unshare(mode: str) -> None:
    if not _threads_usable():
        pytest.skip("threads cannot start here (clone3 gets EPERM from an outer filter)")
    assert run_mode(mode, _unshare_case) == [("ok", None), "OSError", "ok"]


def test_close_range_unshare_without_unshare_is_unavailable() -> None:
    if not filters_usable() or not _threads_usable():
        pytest.skip("an outer filter denies seccomp(2) or threads")
    got = in_child(_unshare_case, rules={"close_range": Action.errno(errno.EPERM),
                                         "unshare": Action.errno(errno.EPERM)}).get()
    assert got == [("SyscallUnavailable", errno.ENOSYS), "ok", "ok"]
