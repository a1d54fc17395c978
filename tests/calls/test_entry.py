"""seccompat.calls._entry and _rawcall.entry: the C plain case is driven by its
description alone, hands every other call to the Python implementation unchanged,
and refuses a malformed description with ValueError (never a crash)."""

from __future__ import annotations

import errno
import gc
import os
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat.bpf import Action, Filter
from seccompat.calls._entry import Param, describe
from seccompat.raw import fast

from ..kernel import in_child

needs_c = pytest.mark.skipif(fast is None, reason="the C accelerator is not built")


def _fast() -> Any:
    """The accelerator, in a test that needs_c (Any: the tests also call it wrongly)."""
    assert fast is not None
    return fast

Call = tuple[tuple[Any, ...], dict[str, Any]]


def _lseek_entry(calls: list[Call], **override: Any) -> Any:
    """lseek(fd, offset, whence=SEEK_SET) as an entry; the implementation records
    what it was handed."""
    def implementation(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "python"

    description = describe("lseek", (
        Param("fd", hi=2**31 - 1, reg=0), Param("offset", hi=2**40, reg=1),
        Param("whence", default=os.SEEK_SET, hi=4, reg=2)), (0, 0, 0), "int")
    description.update(override)
    return _fast().entry(implementation, None, description)


@needs_c
def test_the_plain_case_is_the_kernel_and_everything_else_goes_to_python(
        tmp_path: Path) -> None:
    calls: list[Call] = []
    lseek = _lseek_entry(calls)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert lseek(fd, 12) == 12
        assert os.lseek(fd, 0, os.SEEK_CUR) == 12
        assert lseek(fd, offset=3, whence=os.SEEK_CUR) == 15
        assert calls == []
        odd: list[Call] = [
            ((fd, True), {}),               # a bool is not an int here
            ((fd, 1.0), {}),                # nor a float
            ((fd, 2**41), {}),              # beyond the described range
            ((fd, -1), {}),
            ((fd,), {}),                    # a required parameter missing
            ((fd, 1, 0, 0), {}),            # too many positional
            ((fd, 1), {"bogus": 1}),        # an unknown keyword
            ((fd, 1), {"offset": 1}),       # given twice
            ((fd, 1), {"whence": 9}),
            ((2**31, 1), {}),
        ]
        for args, kwargs in odd:
            assert lseek(*args, **kwargs) == "python"
        assert calls == odd  # handed over exactly as given
        calls.clear()
        assert lseek(-1, 0) == "python"  # EBADF: errors are delegated by default
        assert calls == [((-1, 0), {})]
    finally:
        os.close(fd)


@needs_c
def test_enosys_and_eperm_always_reach_python(tmp_path: Path) -> None:
    """The kernel lacking the call, or a filter's EPERM (filtered or genuine: only
    Python may ask), is never the C side's to answer."""
    calls: list[Call] = []

    def record(*args: Any) -> str:
        calls.append((args, {}))
        return "python"

    description = describe("lseek", (Param("fd", reg=0),), (0,), "int")
    shape = description["shape"]
    assert isinstance(shape, tuple)
    description["shape"] = (999_999, *shape[1:])  # no such syscall: ENOSYS
    missing = _fast().entry(record, None, description)
    assert missing(0) == "python"
    assert calls == [((0,), {})]

    def under_filter() -> list[object]:
        lseek = _lseek_entry(calls)
        fd = os.open(tmp_path, os.O_RDONLY)
        return [lseek(fd, 0), len(calls)]

    calls.clear()
    eperm = Filter.simple(Action.allow(), {"lseek": Action.errno(errno.EPERM)})
    assert in_child(under_filter, filter=eperm).get() == ["python", 1]


def test_raised_errors_are_the_os_modules(tmp_path: Path) -> None:
    """errors="raise": the OSError subclass os raises, naming the path as given (as
    the Python implementation raises it, without the accelerator)."""
    for path in (str(tmp_path / "missing"), os.fsencode(tmp_path / "missing")):
        with pytest.raises(FileNotFoundError) as info:
            c.faccessat2(path, os.R_OK)
        assert info.value.errno == errno.ENOENT
        assert info.value.filename == path
        with pytest.raises(FileNotFoundError) as info:
            c.openat2(path)
        assert info.value.filename == path


def test_gated_and_pointed_parameters(tmp_path: Path) -> None:
    """openat2's mode reaches the kernel only with O_CREAT or O_TMPFILE (else
    openat2 would refuse it); copy_file_range's offsets are pointers to words, None
    a NULL pointer."""
    (tmp_path / "f").write_bytes(b"0123456789")
    os.close(c.openat2(str(tmp_path / "f"), os.O_RDONLY, 0o600))  # mode gated out
    old = os.umask(0)
    try:
        os.close(c.openat2(str(tmp_path / "g"), os.O_CREAT | os.O_WRONLY, 0o640))
    finally:
        os.umask(old)
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o640
    src = os.open(tmp_path / "f", os.O_RDONLY)
    dst = os.open(tmp_path / "g", os.O_WRONLY)
    try:
        assert c.copy_file_range(src, dst, 4, 6, 0) == 4
        assert os.lseek(src, 0, os.SEEK_CUR) == 0  # an explicit offset leaves the file's
        assert c.copy_file_range(src, dst, 3) == 3  # None: the file offsets, advanced
        assert os.lseek(src, 0, os.SEEK_CUR) == 3
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / "g").read_bytes() == b"0129"  # "012" at dst's offset 0, over "6789"


def _bad(**change: Any) -> dict[str, object]:
    description = describe("lseek", (Param("fd", reg=0), Param("offset", reg=1)), (0, 0),
                           "int")
    description.update(change)
    return description


PARAM = ("fd", None, (1, 1, 0, 0, -1, 0, 0, 10, 0, 0, -1, 0, 0))


def _param(**fields: int) -> tuple[object, ...]:
    names = ("kind", "required", "none_ok", "reg", "word", "replace", "lo", "hi", "bits_true",
             "bits_false", "gate", "mask_a", "mask_b")
    ints = list(PARAM[2])
    for name, value in fields.items():
        ints[names.index(name)] = value
    return (PARAM[0], PARAM[1], tuple(ints))


@needs_c
@pytest.mark.parametrize("change", [
    {"params": (_param(kind=9),)},
    {"params": (_param(reg=6),)},
    {"params": (_param(reg=0, word=0),)},           # one target, not two
    {"params": (_param(reg=-1, word=-1),)},          # nor none
    {"params": (_param(kind=4, word=-1),)},          # pointed: a register and a word
    {"params": (_param(gate=3),)},
    {"params": (_param(reg=2),)},                    # a register beyond the registers
    {"params": (("fd", None, (1, 1)),)},
    {"params": ((1, None, PARAM[2]),)},              # a keyword is a str
    {"params": "not a tuple"},
    {"registers": ((7, 0),)},
    {"registers": ((1, 9),)},                        # no such word
    {"kept": (6,)},
    {"fallback_args": ((1, 0),)},                    # only a path is encoded
    {"fallback_args": ((0, 5),)},
    {"fallback_args": ((9, 0),)},
    {"shape": (1, 0, 9, 0, -1, -1, 0, 0)},
    {"shape": (1, 0, 3, 0, -1, -1, 0, 0)},           # bytes without a size parameter
    {"shape": (1, 0, 4, 0, -1, -1, 256, 0), "result_type": int},
    {"shape": (1, 0, 4, 0, -1, -1, 16, 0), "result_type": tuple, "fields": ((2, 12, 0, 1),)},
    {"syscall": None},
    {"shape": None},
])
def test_a_malformed_description_is_a_value_error(change: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^entry: "):
        _fast().entry(print, None, _bad(**change))


@needs_c
def test_bad_calls_of_entry_are_type_errors() -> None:
    cases: tuple[tuple[object, ...], ...] = (
        (1, None, _bad()), (print, 1, _bad()), (print, None, []), (print,))
    for args in cases:
        with pytest.raises(TypeError):
            _fast().entry(*args)


@needs_c
def test_entries_are_freed() -> None:
    """The C side has a fixed table of entries: a dropped one gives its slot back."""
    for _ in range(100):
        made = _fast().entry(print, None, _bad())
        made.attribute = made  # a cycle: only the collector frees it
        del made
        gc.collect()
