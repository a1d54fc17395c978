"""seccompat.raw: errno reporting, 64-bit arguments and results, both implementations."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seccompat import raw
from seccompat.syscalls import lookup

IMPLEMENTATIONS = [pytest.param(raw.ctypes_syscall, id="ctypes")]
if raw.IMPLEMENTATION == "c":
    IMPLEMENTATIONS.append(pytest.param(raw.syscall, id="c"))

NR = {name: lookup(name).number for name in ("getppid", "lseek", "close", "dup3", "getpid")}
SyscallFn = Callable[..., tuple[int, int]]


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
def test_success_and_errno(call: SyscallFn) -> None:
    assert call(NR["getppid"]) == (os.getppid(), 0)
    assert call(NR["close"], -1) == (-1, errno.EBADF)
    assert call(NR["dup3"], 0, 0, 0) == (-1, errno.EINVAL)


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
def test_64_bit_arguments_and_results_are_not_truncated(call: SyscallFn) -> None:
    # lseek takes and returns 64-bit offsets: a value whose two 32-bit halves both
    # matter comes back whole only if neither the argument nor the result is cut.
    with tempfile.TemporaryFile() as f:
        for offset in (2**32 + 5, 2**40 + 2**31 + 7, 2**43 + 3):
            assert call(NR["lseek"], f.fileno(), offset, os.SEEK_SET) == (offset, 0)
            assert os.lseek(f.fileno(), 0, os.SEEK_CUR) == offset


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
def test_negative_and_high_unsigned_values_share_bits(call: SyscallFn) -> None:
    # fd -1 and 2**64-1 are the same register value: both EBADF.
    assert call(NR["close"], -1) == call(NR["close"], 2**64 - 1) == (-1, errno.EBADF)


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad", [2**64, -(2**63) - 1])
def test_out_of_range_is_value_error(call: SyscallFn, bad: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        call(NR["close"], bad)


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad", ["1", 1.0, None, memoryview(b"x")])
def test_non_int_is_type_error(call: SyscallFn, bad: object) -> None:
    with pytest.raises(TypeError):
        call(NR["close"], bad)


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
def test_argument_count(call: SyscallFn) -> None:
    with pytest.raises(TypeError):
        call()
    with pytest.raises(TypeError):
        call(NR["getpid"], 1, 2, 3, 4, 5, 6, 7)


@pytest.mark.skipif(raw.IMPLEMENTATION != "c", reason="the C accelerator is not built")
@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_c_and_ctypes_agree(value: int) -> None:
    # lseek on fd -1 reads all three arguments and fails the same way; on a real
    # file the offset comes back (or EINVAL for negative offsets).
    with tempfile.TemporaryFile() as f:
        for fd in (-1, f.fileno()):
            assert raw.syscall(NR["lseek"], fd, value, 0) == \
                raw.ctypes_syscall(NR["lseek"], fd, value, 0)


def test_errno_name() -> None:
    assert raw.errno_name(1) == "EPERM"
    assert raw.errno_name(38) == "ENOSYS"
    assert raw.errno_name(4095) == "errno 4095"


@pytest.mark.parametrize("call", IMPLEMENTATIONS)
def test_bytes_are_paths_and_bytearrays_are_buffers(call: SyscallFn, tmp_path: object) -> None:
    # statx(AT_FDCWD, path, 0, STATX_SIZE, buf): the kernel reads the path from the
    # bytes object and writes the result into the bytearray.
    import struct

    path = os.path.join(str(tmp_path), "f")
    with open(path, "wb") as f:
        f.write(b"12345")
    buf = bytearray(256)
    assert call(lookup("statx").number, -100, os.fsencode(path), 0, 0x200, buf) == (0, 0)
    assert struct.unpack_from("=Q", buf, 40)[0] == 5
    assert call(lookup("statx").number, -100, b"/no/such/file", 0, 0x200, buf) == \
        (-1, errno.ENOENT)
