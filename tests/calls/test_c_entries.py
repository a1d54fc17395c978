"""Each C entry against the Python implementation it hands over to, and their introspection."""


from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action

from ..kernel import (
    in_child,
)
from .modes import MODES, filters_usable, run_mode

# --- the C entries against the Python implementations they hand over to -----------

def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # the kind and errno are what must agree
        return (type(exc).__name__, getattr(exc, "errno", None))
    return ("ok", len(value) if isinstance(value, bytes) else value)


def _c_python_disagreements(tmp: str) -> list[Any]:
    """Every case where a C entry and the Python implementation it hands over to
    disagree; each C entry is called before and after the Python side, so under a
    filter the second call takes the C entry's doomed path."""
    from seccompat.calls import _close_range, _copy_file_range, _faccessat2, _getrandom, _statx

    missing, link = os.path.join(tmp, "missing"), os.path.join(tmp, "link")
    cases: list[tuple[Callable[..., Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    paths = ("/", os.path.join(tmp, "f"), missing, b"/", "a\0b", 3.5)
    modes = (0, os.R_OK, os.W_OK | os.X_OK, 8, -1, True)
    cases = [(c.access, _faccessat2._access, (p, m), kw) for p in paths for m in modes
             for kw in ({}, {"effective_ids": True}, {"follow_symlinks": False},
                        {"dir_fd": None}, {"effective_ids": 1})]
    cases += [(c.faccessat2, _faccessat2._faccessat2, (p, m), kw) for p in paths for m in modes
              for kw in ({}, {"flags": 0x200}, {"flags": 0x300}, {"flags": 0x8000},
                         {"dir_fd": None}, {"flags": True}, {"flags": -1})]
    cases += [(c.statx, _statx._statx, (p, *m), kw)
              for p in ("/", link, missing, b"/", "a\0b", 0, 3.5)
              for m in ((), (0,), (0x7FF | 0x800 | 0x1000,), (0x8000_0000,), (-1,))
              for kw in ({}, {"follow_symlinks": False}, {"flags": 0}, {"flags": 0x800},
                         {"dir_fd": None}, {"follow_symlinks": 0})]
    cases += [(c.getrandom, _getrandom._getrandom, (n, *f), {})
              for n in (0, 1, 32, -1, 2**40, True, 1.0) for f in ((), (0,), (1,), (0x1000,))]
    cases += [(c.close_range, _close_range._close_range, a, {})
              for a in ((10_000, 10_000), (5, 3), (1 << 32, 1 << 32), (-1, 2), (9000, 9001, 8),
                        (9000, "x"), (9000, 9001, 0, 0), (9000, 9001, 4))]
    wrong = []
    for c_fn, py_fn, args, kwargs in cases:
        got = [_outcome(fn, *args, **kwargs) for fn in (c_fn, py_fn, c_fn)]
        if got.count(got[0]) != 3:
            wrong.append((c_fn.__name__, args, kwargs, got))
    # copy_file_range moves data: each call gets its own fresh pair of files.
    copies: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}), ((0, 0), {}), ((None, 5), {}), ((-1,), {}), ((), {"offset_src": 2}),
        ((0,), {"offset_src": 0}), ((), {"offset_dst": "x"}), ((), {"bogus": 1})]
    for args, kwargs in copies:
        got = []
        for fn in (c.copy_file_range, _copy_file_range._copy_file_range, c.copy_file_range):
            src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
            with open(src, "wb") as f:
                f.write(b"0123456789")
            with open(dst, "wb"):
                pass
            with open(src, "rb") as a, open(dst, "r+b") as b:
                got.append((_outcome(fn, a.fileno(), b.fileno(), 8, *args, **kwargs),
                            b.read(), a.tell()))
        if got.count(got[0]) != 3:
            wrong.append(("copy_file_range", args, kwargs, got))
    return wrong


@pytest.mark.parametrize("mode", MODES)
def test_c_entries_agree_with_python(mode: str, tmp_path: Path) -> None:
    """Value, or exception kind and errno, over an argument matrix: the kernel's plain
    case, and under a filter the doomed plain case that calls the fallback itself."""
    from seccompat.raw import fast

    if fast is None:
        pytest.skip("the C accelerator is not built")
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    assert run_mode(mode, _c_python_disagreements, str(tmp_path)) == []


def test_doomed_c_entries_are_per_thread(tmp_path: Path) -> None:
    """A filter installed by one thread (no TSYNC) blocks only that thread: another
    thread's C entries keep calling the kernel, which fills btime."""
    from seccompat.bpf import Filter as F
    from seccompat.bpf import compile_filter, install

    if not filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    if classify("statx").status.value != "available":
        pytest.skip("statx is unavailable to every thread here (an outer filter, or the kernel)")
    (tmp_path / "f").write_text("x")
    path = str(tmp_path / "f")

    def body() -> tuple[bool, bool, bool]:
        start, results = threading.Event(), []

        def unfiltered() -> None:
            start.wait()
            results.append(c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME).stx_btime
                           is not None)

        other = threading.Thread(target=unfiltered)
        other.start()  # before the filter: it stays unfiltered
        install(compile_filter(F.simple(Action.allow(), {"statx": Action.errno(1)})))
        here = [c.statx(path, c.STATX_BASIC_STATS | c.STATX_BTIME).stx_btime is None
                for _ in range(3)]  # the first call dooms statx here, the rest use C's verdict
        start.set()
        other.join()
        return here[0], here[2], results[0]

    assert in_child(body).get() == (True, True, True)


def test_doomed_plain_case_goes_straight_to_the_fallback(tmp_path: Path) -> None:
    """Once this thread's verdict is known, the C entries call the fallback without
    the Python implementation (or the verdict lookup) in between."""
    from seccompat.raw import fast

    if fast is None:
        pytest.skip("the C accelerator is not built")
    if not filters_usable():
        pytest.skip("an outer filter denies seccomp(2)")
    (tmp_path / "f").write_text("x")
    path = str(tmp_path / "f")
    calls: dict[str, Callable[[], object]] = {
        "statx": lambda: c.statx(path), "getrandom": lambda: c.getrandom(8),
        "faccessat2": lambda: c.faccessat2(path, os.R_OK, flags=0x200),
        "access": lambda: c.access(path, os.R_OK, effective_ids=True),
        "close_range": lambda: c.close_range(9000, 9001)}

    def body() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for name, call in calls.items():
            call()  # learns the verdict
            frames: list[str] = []

            def profile(frame: Any, event: str, _: Any, frames: list[str] = frames) -> None:
                if event == "call":
                    frames.append(frame.f_code.co_name)

            sys.setprofile(profile)
            try:
                call()
            finally:
                sys.setprofile(None)
            seen[name] = frames[:2]  # the lambda, then the first Python function
        return seen

    assert run_mode("eperm", body) == {name: ["<lambda>", "_fallback"] for name in calls}


# --- the public functions introspect like Python functions -------------------------

@pytest.mark.parametrize("name", ["access", "faccessat2", "statx", "getrandom",
                                  "copy_file_range", "close_range", "openat2"])
def test_c_entries_carry_their_python_signature_and_docs(name: str) -> None:
    """help() and inspect see the real signature (the C accelerator's entries carry a
    __text_signature__ equal to the Python implementation's) and a docstring that
    names the man page."""
    import importlib
    import inspect

    public = getattr(c, name)
    module = {"access": "faccessat2"}.get(name, name)
    python = getattr(importlib.import_module(f"seccompat.calls._{module}"),
                     f"_{name}")

    def shape(fn: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(public) == shape(python)
    doc = public.__doc__ or ""
    assert f"{name if name != 'access' else 'faccessat2'}(2)" in doc, doc


def test_close_range_out_of_range_is_fd_out_of_range() -> None:
    """docs/compatibility.md promises FdOutOfRange (an OverflowError and a ValueError)
    for a descriptor no C int can hold; close_range's bound is the unsigned int."""
    for first, last in ((2**40, 2**40 + 1), (0, 2**32), (-1, 5)):
        with pytest.raises(c.FdOutOfRange):
            c.close_range(first, last)
