"""close_range: the kernel and the fallback over exactly the open descriptors."""


from __future__ import annotations

import errno
import functools
import os
from typing import Any

import pytest

from seccompat import calls as c

from .modes import MODES, outcome, run_mode

# --- close_range ----------------------------------------------------------------

def _close_range_case() -> list[Any]:
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(6)]
    for fd in fds:
        os.set_inheritable(fd, True)  # Python opens close-on-exec; start without it
    lo, hi = min(fds), max(fds)
    c.close_range(fds[1], fds[2])
    closed = [outcome(functools.partial(os.fstat, fd)) for fd in fds]
    c.close_range(fds[3], fds[4], c.CLOSE_RANGE_CLOEXEC)
    cloexec = [bool(__import__("fcntl").fcntl(fd, 1) & 1) for fd in (fds[0], fds[3], fds[4])]
    errors = [outcome(lambda: c.close_range(hi, lo)), outcome(lambda: c.close_range(0, 1, 1))]
    c.close_range(fds[5], 2**32 - 1)
    last = outcome(lambda: os.fstat(fds[5]))
    return [[r[0] for r in closed], cloexec, [e[:2] for e in errors], last[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_close_range(mode: str) -> None:
    got = run_mode(mode, _close_range_case)
    assert got == [["ok", "OSError", "OSError", "ok", "ok", "ok"], [False, True, True],
                   [("OSError", errno.EINVAL), ("OSError", errno.EINVAL)],
                   ("OSError", errno.EBADF)]
