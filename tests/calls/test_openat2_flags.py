"""The kernel's openat2 flag-validation table (tools/testing/selftests/openat2/
openat2_test.c, test_openat2_flags: 23 cases of flags, mode and resolve, each with
an expected errno or success), ported as facts; the struct-size cases are not (the
wrapper builds struct open_how itself).  Each case runs twice: against the kernel,
and through the wrapper under a real seccomp filter answering EPERM for openat2
(which takes the userspace fallback).  The kernel must give the stated answer here,
and the fallback exactly the kernel's.

Cases the wrapper cannot express are listed in SKIPPED, with the reason: it passes
mode only with O_CREAT or O_TMPFILE (as os.open), and takes mode as 32 bits."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action
from seccompat.calls._openat2 import _O_LARGEFILE

from ..kernel import in_child

pytestmark = pytest.mark.skipif(classify("openat2").status.value != "available",
                                reason="the kernel's openat2 is the reference")

PATH, CREAT, TMPFILE, RDWR = os.O_PATH, os.O_CREAT, os.O_TMPFILE, os.O_RDWR
BAD_RESOLVE = 0x1337  # bits outside every RESOLVE_* flag

# (flags, mode, resolve, expected): expected is an errno name, or "ok" for a
# descriptor whose F_GETFL (with FD_CLOEXEC as O_CLOEXEC, O_CREAT as asked, and
# O_LARGEFILE only if asked) is the flags asked plus the O_CLOEXEC the wrapper adds.
# The selftest opens "." without O_CREAT and a fresh file with it: here a directory
# and a fresh name in a temporary directory.
CASES: list[tuple[int, int, int, str]] = [
    # O_TMPFILE excludes O_PATH and O_CREAT
    (TMPFILE | PATH | RDWR, 0, 0, "EINVAL"),
    (TMPFILE | CREAT | RDWR, 0, 0, "EINVAL"),
    # with O_PATH, only O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW are accepted
    (PATH | os.O_CLOEXEC, 0, 0, "ok"),
    (PATH | os.O_DIRECTORY, 0, 0, "ok"),
    (PATH | os.O_NOFOLLOW, 0, 0, "ok"),
    (PATH | RDWR, 0, 0, "EINVAL"),
    (PATH | CREAT, 0, 0, "EINVAL"),
    (PATH | os.O_EXCL, 0, 0, "EINVAL"),
    (PATH | os.O_NOCTTY, 0, 0, "EINVAL"),
    (PATH | os.O_DIRECT, 0, 0, "EINVAL"),
    (PATH | _O_LARGEFILE, 0, 0, "EINVAL"),
    # a mode with O_CREAT or O_TMPFILE: valid only within 0o7777.  The selftest skips
    # a valid O_TMPFILE case on EOPNOTSUPP (a file system without it); the temporary
    # directory's file system here (ext4 /tmp) supports O_TMPFILE, so it succeeds.
    (CREAT, 0o600, 0, "ok"),
    (TMPFILE | RDWR, 0o600, 0, "ok"),
    (CREAT, 0xFFFF, 0, "EINVAL"),
    (TMPFILE | RDWR, 0x1337, 0, "EINVAL"),
    # resolve may hold RESOLVE_* flags only
    (os.O_RDONLY, 0, BAD_RESOLVE, "EINVAL"),
    (CREAT, 0, BAD_RESOLVE, "EINVAL"),
    (TMPFILE | RDWR, 0, BAD_RESOLVE, "EINVAL"),
    (PATH, 0, BAD_RESOLVE, "EINVAL"),
]

# (flags, mode, resolve, expected, why it cannot run through the wrapper)
SKIPPED: list[tuple[int, int, int, str, str]] = [
    # a mode without O_CREAT/O_TMPFILE is EINVAL, but the wrapper (as os.open) drops it
    (os.O_RDONLY, 0o600, 0, "EINVAL", "mode without O_CREAT/O_TMPFILE is dropped"),
    (PATH, 0o600, 0, "EINVAL", "mode without O_CREAT/O_TMPFILE is dropped"),
    # modes beyond 32 bits: the wrapper refuses them (ValueError) before any syscall
    (CREAT, 0xC000000000000000, 0, "EINVAL", "mode beyond 32 bits"),
    (TMPFILE | RDWR, 0x0000A00000000000, 0, "EINVAL", "mode beyond 32 bits"),
]


def _answer(fd: int, flags: int) -> str:
    """"ok" when the descriptor's flags are the ones asked for, as the selftest checks."""
    got = fcntl.fcntl(fd, fcntl.F_GETFL)
    if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
        got |= os.O_CLOEXEC
    if flags & CREAT:
        got |= CREAT  # F_GETFL does not report O_CREAT
    if not flags & _O_LARGEFILE:
        got &= ~_O_LARGEFILE  # forced on 64-bit ABIs for all but O_PATH
    wanted = flags | os.O_CLOEXEC
    return "ok" if got == wanted else f"flags {got:#o} != {wanted:#o}"


def _run(base: str) -> list[str]:
    """Every case, in this child, relative to *base* (a directory ``dir`` inside)."""
    dfd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    new = Path(base) / "new"
    got = []
    try:
        for flags, mode, resolve, _ in CASES:
            path = "new" if flags & CREAT else "dir"
            new.unlink(missing_ok=True)
            try:
                fd = c.openat2(path, flags, mode, dir_fd=dfd, resolve=resolve)
            except OSError as exc:
                got.append(errno.errorcode.get(exc.errno or 0, str(exc)))
            else:
                try:
                    got.append(_answer(fd, flags))
                finally:
                    os.close(fd)
    finally:
        os.close(dfd)
    return got


def test_the_kernels_openat2_flag_selftests() -> None:
    base = tempfile.mkdtemp(prefix="seccompat-ksft-flags-")
    try:
        (Path(base) / "dir").mkdir()
        kernel = in_child(_run, base).get()
        fallback = in_child(_run, base, rules={"openat2": Action.errno(errno.EPERM)}).get()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    expected = [case[3] for case in CASES]
    assert len(CASES) == 19
    assert len(CASES) + len(SKIPPED) == 23
    wrong = [(case, k) for case, k in zip(CASES, kernel, strict=True) if k != case[3]]
    assert wrong == [], "kernel:\n" + "\n".join(f"{case} -> {k}" for case, k in wrong)
    differ = [(case, k, f) for case, k, f in zip(CASES, kernel, fallback, strict=True)
              if k != f]
    assert differ == [], "fallback:\n" + "\n".join(
        f"{case}: kernel {k}, fallback {f}" for case, k, f in differ)
    assert fallback == expected
