"""Types of the optional C accelerator (``_rawcall.c``); see :mod:`seccompat.raw`."""

from collections.abc import Callable
from typing import Any

_Arg = int | bytes | bytearray

#: CODES[group][name]: the ints a description uses (see seccompat.calls._entry).
CODES: dict[str, dict[str, int]]

def syscall(nr: int, *args: _Arg) -> tuple[int, int]: ...
def fork_script(steps: tuple[tuple[int, ...], ...], out_fd: int, alarm_seconds: int) -> int: ...
def entry(implementation: Callable[..., Any], fallback: Callable[..., Any] | None,
          description: dict[str, object]) -> Callable[..., Any]: ...
def mark_doomed(syscall: str, key: tuple[int, ...] | None = None) -> None: ...
