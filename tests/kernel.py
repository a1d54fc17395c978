"""Test harness: run a function in a forked child under a real seccomp filter.

``in_child(fn, *args, filter=...)`` forks, installs the filter in the child (with
no_new_privs, which only the child gets), calls ``fn`` and sends its result back
pickled.  The parent gets a :class:`ChildResult`: the value, or the exception text,
or the signal that killed the child.  Nothing here mocks the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seccompat import _launch
from seccompat.bpf import Action, Filter, compile_filter

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PROFILES = DATA / "profiles"
PYTHON = os.path.realpath(sys.executable)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs uid 0")


class ChildResult(_launch.ChildResult):
    def get(self) -> Any:
        """The function's return value; fails the test if the child raised or died."""
        if self.signal is not None:
            raise AssertionError(f"child died of signal {self.signal}")
        if self.error is not None:
            raise AssertionError(f"child raised:\n{self.error}")
        return self.value

    @property
    def alive(self) -> bool:
        return self.signal is None


def in_child(fn: Callable[..., Any], *args: Any, filter: Filter | None = None,
             rules: dict[str, Action] | None = None, default: Action | None = None,
             timeout: int = 60) -> ChildResult:
    """Run ``fn(*args)`` in a forked child, under *filter* (or one built from *rules*)."""
    if rules is not None:
        filter = Filter.simple(default or Action.allow(), rules, missing="skip")
    program = compile_filter(filter) if filter is not None else None
    done = _launch.call_in_child(lambda: fn(*args), program, timeout)
    return ChildResult(done.value, done.error, done.signal, done.exit_status)


def open_fds() -> set[int]:
    """This process's open descriptors (without the one the listing itself used)."""
    listed = {int(n) for n in os.listdir("/proc/self/fd")}
    return {fd for fd in listed if _is_open(fd)}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def no_descriptor_leaks() -> Iterator[None]:
    """Fails when the block leaves a descriptor open that it did not find open."""
    before = open_fds()
    yield
    leaked = open_fds() - before
    assert not leaked, f"leaked descriptors: {sorted(leaked)}"


# --- genuine-EPERM fixtures ------------------------------------------------------

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10


def _flags(fd: int, new: int | None = None) -> int:
    buf = bytearray(struct.pack("l", 0 if new is None else new))
    fcntl.ioctl(fd, FS_IOC_SETFLAGS if new is not None else FS_IOC_GETFLAGS, buf)
    return int(struct.unpack("l", buf)[0])


@contextlib.contextmanager
def immutable_file(directory: Path) -> Iterator[Path]:
    """A regular file with the immutable attribute, cleared again whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("setting the immutable flag needs CAP_LINUX_IMMUTABLE (root)")
    path = directory / "immutable"
    path.write_text("x")
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            _flags(fd, _flags(fd) | FS_IMMUTABLE_FL)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL):
                pytest.skip(f"{directory} does not support the immutable flag")
            raise
        try:
            yield path
        finally:
            _flags(fd, _flags(fd) & ~FS_IMMUTABLE_FL)
    finally:
        os.close(fd)


@contextlib.contextmanager
def sysctl(name: str, value: str) -> Iterator[None]:
    """Set a sysctl for the duration, restoring the old value whatever happens."""
    path = Path("/proc/sys") / name.replace(".", "/")
    if not path.exists():
        pytest.skip(f"sysctl {name} does not exist on this kernel")
    if os.geteuid() != 0:
        pytest.skip(f"setting {name} needs root")
    old = path.read_text().strip()
    try:
        path.write_text(value)
    except OSError as exc:
        pytest.skip(f"cannot set {name}: {exc}")
    try:
        yield
    finally:
        path.write_text(old)


@contextlib.contextmanager
def reachable_dir(mode: int = 0o755) -> Iterator[Path]:
    """A fresh directory under /tmp (1777), not pytest's 0700 one, so that every uid
    a test switches to can reach it; removed afterwards, whatever happens."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="seccompat-"))
    try:
        base.chmod(mode)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    """mount(2), raising OSError (the test helpers' only mount call)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source and os.fsencode(source), os.fsencode(target),
                  fstype and fstype.encode(), flags, data and data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def private_mount_namespace() -> None:
    """Give this (child) process its own mount namespace, nothing propagating back,
    so every mount it makes vanishes with it.  OSError where that is refused."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:  # CLONE_NEWNS
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)


MS_NOSUID, MS_NODEV, MS_NOSYMFOLLOW = 0x2, 0x4, 0x100


def mount_tmpfs(target: str, options: str | None = None, flags: int = 0) -> None:
    _mount("tmpfs", target, "tmpfs", flags, options)


def remount_read_only(target: str) -> None:
    """The file system at *target* itself (its superblock) read-only."""
    _mount(None, target, None, _MS_REMOUNT | _MS_RDONLY)


def bind(source: str, target: str) -> None:
    """A bind mount of *source* at *target*."""
    _mount(source, target, None, _MS_BIND)


def bind_read_only(source: str, target: str) -> None:
    """A read-only bind mount of *source* at *target* (the file system stays writable)."""
    _mount(source, target, None, _MS_BIND)
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)



def umount(target: str) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(target), 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


# --- a seccomp supervisor (USER_NOTIF) for tests ------------------------------------

_NOTIF_RECV, _NOTIF_SEND = 0xC0502100, 0xC0182101  # SECCOMP_IOCTL_NOTIF_RECV/SEND
_USER_NOTIF_FLAG_CONTINUE = 1


class Supervisor:
    """A thread answering a listener's notifications: "continue" lets each call run
    (SECCOMP_USER_NOTIF_FLAG_CONTINUE); "never" leaves them waiting.  ``seen`` counts
    the notifications received.  Start it before the filter is installed (a thread
    made afterwards would carry the filter), then :meth:`serve` the listener."""

    def __init__(self, answer: str) -> None:
        import queue
        import threading

        self.answer, self.seen = answer, 0
        self._listener: queue.Queue[int] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def serve(self, listener: int) -> None:
        self._listener.put(listener)

    def _serve(self) -> None:
        import select

        self.listener = self._listener.get()
        while True:
            select.select([self.listener], [], [])
            notif = bytearray(80)
            try:
                fcntl.ioctl(self.listener, _NOTIF_RECV, notif)
            except OSError:
                continue
            self.seen += 1
            if self.answer == "continue":
                resp = struct.pack("=QqiI", struct.unpack_from("=Q", notif)[0], 0, 0,
                                   _USER_NOTIF_FLAG_CONTINUE)
                with contextlib.suppress(OSError):
                    fcntl.ioctl(self.listener, _NOTIF_SEND, bytearray(resp))
