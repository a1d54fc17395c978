"""Bad arguments: TypeError and ValueError as the os module raises them, never a crash."""


from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompat import calls as c

from ..kernel import (
    in_child,
)
from .modes import filters_usable, run_mode

# --- bad input -----------------------------------------------------------------

# Only values that are invalid by construction: the calls below change things when
# given valid arguments (hypothesis once produced "/" and chmod-ed it: never again).
_INVALID = st.one_of(
    st.floats(allow_nan=True), st.none(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1),
    st.text(max_size=8).map(lambda t: t + "\0"), st.binary(max_size=8).map(lambda b: b"\0" + b),
)


def _try_all(value: Any) -> list[str]:
    """In a throwaway child and cwd: every wrapper with *value*; the unexpected errors."""
    import tempfile

    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)
        try:
            return _try_each(value)
        finally:
            os.chdir("/")


def _try_each(value: Any) -> list[str]:
    attempts: list[Callable[[], Any]] = [
        lambda: c.faccessat2(value, os.R_OK), lambda: c.access("/", value),
        lambda: c.statx(value), lambda: c.close_range(value, value),
        lambda: c.copy_file_range(value, value, 1), lambda: c.getrandom(value),
        lambda: c.fchmodat2(value, 0o644), lambda: c.renameat2(value, value),
        lambda: c.pidfd_open(value), lambda: c.statx(".", flags=value),
        lambda: c.statx(".", value), lambda: c.faccessat2(".", value),
        lambda: c.faccessat2(".", os.R_OK, flags=value),
        lambda: c.access(".", os.R_OK, dir_fd=value if value is not None else "x"),  # type: ignore[arg-type]
    ]
    unexpected = []
    for fn in attempts:
        try:
            fn()
            unexpected.append(f"accepted {value!r}")
        except (TypeError, ValueError, OSError):
            pass
        except Exception as exc:
            unexpected.append(f"{type(exc).__name__}: {exc}")
    return unexpected


@settings(max_examples=60, deadline=None)
@given(_INVALID)
def test_bad_input_never_crashes(value: Any) -> None:
    """With the kernel, and under the EPERM filter once every call's verdict is known
    (the C entries' doomed paths must refuse bad values the same way)."""
    assert in_child(_try_all, value).get() == []
    if filters_usable():
        assert run_mode("eperm", _warmed_try_all, value) == []


def _warmed_try_all(value: Any) -> list[str]:
    _try_all(0)  # every wrapper once: the verdicts are known, the doomed paths live
    return _try_all(value)


@pytest.mark.parametrize(("call_", "exc"), [
    (lambda: c.statx("a\0b"), ValueError),
    (lambda: c.faccessat2(b"a\0b", os.R_OK), ValueError),
    (lambda: c.statx(3.5), TypeError),  # type: ignore[arg-type]
    (lambda: c.faccessat2("/", "r"), TypeError),  # type: ignore[arg-type]
    (lambda: c.statx("/", flags=2**40), ValueError),
    (lambda: c.close_range(-1, 3), ValueError),
    (lambda: c.getrandom(-1), ValueError),
])
def test_bad_input_errors(call_: Callable[[], Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        call_()


def test_huge_fds_are_overflow_errors_and_negative_ones_ebadf() -> None:
    """As ``os``: no C int holds 2**40 (OverflowError, here also a ValueError); -5 is
    the kernel's EBADF."""
    for call_ in (c.statx, lambda fd: c.access(".", os.R_OK, dir_fd=fd),
                  lambda fd: c.copy_file_range(fd, 1, 1)):
        for fd, exc in ((2**40, OverflowError), (-(2**40), ValueError)):
            with pytest.raises(exc):
                call_(fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        c.statx(-5)
    assert not c.access(".", os.R_OK, dir_fd=-5)  # os.access: False for EBADF


def test_paths_may_be_str_bytes_or_pathlike(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    for form in (str(f), os.fsencode(f), f):
        assert c.statx(form).stx_size == 1
        assert c.access(form, os.R_OK)
