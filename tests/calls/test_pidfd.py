"""pidfd_open, pidfd_send_signal, pidfd_getfd: no emulation, SyscallUnavailable."""


from __future__ import annotations

import errno
import os
import signal
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify

from .modes import MODES, run_mode

# --- pidfd ---------------------------------------------------------------------

def _pidfd_case() -> Any:
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    try:
        fd = c.pidfd_open(pid)
        c.pidfd_send_signal(fd, signal.SIGTERM)
        dup = c.pidfd_getfd(c.pidfd_open(os.getpid()), 0)
        os.close(dup)
        return "works"
    except c.SyscallUnavailable as exc:
        os.kill(pid, signal.SIGTERM)
        return ("unavailable", exc.errno, exc.verdict is not None)
    finally:
        os.waitpid(pid, 0)


@pytest.mark.parametrize("mode", MODES)
def test_pidfd_has_no_emulation(mode: str) -> None:
    expected = "works" if mode == "kernel" and classify("pidfd_open").status.value == \
        "available" else ("unavailable", errno.ENOSYS, True)
    assert run_mode(mode, _pidfd_case) == expected
