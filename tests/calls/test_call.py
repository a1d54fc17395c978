"""call(): any probed syscall, with a fallback only on a classified ENOSYS or filter."""


from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify

from .modes import MODES, outcome, run_mode

# --- call() --------------------------------------------------------------------

def _generic_case() -> list[Any]:
    name = ctypes.create_string_buffer(b"x")
    addr = ctypes.addressof(name)
    got = c.call("memfd_create", addr, 1, fallback=lambda: "fallback")
    if isinstance(got, int):
        os.close(got)
        got = "kernel"
    return [got, outcome(lambda: c.call("memfd_create", addr, 0x80000000))[:2],
            outcome(lambda: c.call("close", -1))[:2]]


@pytest.mark.parametrize("mode", MODES)
def test_generic_call(mode: str) -> None:
    got = run_mode(mode, _generic_case)
    if mode == "kernel" and classify("memfd_create").status.value == "available":
        assert got == ["kernel", ("OSError", errno.EINVAL), ("OSError", errno.EBADF)]
    else:
        assert got == ["fallback", ("SyscallUnavailable", errno.ENOSYS),
                       ("OSError", errno.EBADF)]


def test_generic_call_rejects_unknown_names() -> None:
    with pytest.raises(LookupError, match="did you mean"):
        c.call("memfd_creat")
    with pytest.raises(TypeError):
        c.call(42)  # type: ignore[arg-type]
