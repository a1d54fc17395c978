"""openat2's fallback against the kernel where a userspace walk is easy to get
wrong: "/." after a non-directory, O_LARGEFILE, RESOLVE_NO_XDEV from another mount,
nosymfollow mounts and fs.protected_symlinks (the kernel is the judge)."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import signal
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action
from seccompat.calls._openat2 import _O_LARGEFILE
from seccompat.calls._resolver import resolve_open

from ..kernel import MS_NOSYMFOLLOW, in_child, mount_tmpfs, private_mount_namespace, sysctl

pytestmark = pytest.mark.skipif(classify("openat2").status.value != "available",
                                reason="the kernel's openat2 is the reference")

B, R, X = c.RESOLVE_BENEATH, c.RESOLVE_IN_ROOT, c.RESOLVE_NO_XDEV
RESOLVES = [0, B, R, X, B | X]
FLAGS = [os.O_PATH, os.O_PATH | os.O_NOFOLLOW, os.O_RDONLY | os.O_NONBLOCK]


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="seccompat-parity-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _answer(fn: Callable[[], int], root: Path) -> str:
    try:
        fd = fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    where = os.readlink(f"/proc/self/fd/{fd}")
    os.close(fd)
    return "ROOT" if where == str(root) else where.removeprefix(f"{root}/")


def _differences(root: Path, paths: list[str], resolves: list[int] = RESOLVES,
                 flags_list: list[int] = FLAGS) -> list[tuple[object, ...]]:
    """(path, resolve, flags, kernel, fallback) wherever the two differ."""
    dfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    out: list[tuple[object, ...]] = []
    try:
        for path, resolve, flags in itertools.product(paths, resolves, flags_list):
            raw = path.encode()
            k = _answer(partial(c.openat2, raw, flags, dir_fd=dfd, resolve=resolve), root)
            f = _answer(partial(resolve_open, dfd, raw, flags | os.O_CLOEXEC, 0, resolve), root)
            if k != f:
                out.append((path, hex(resolve), oct(flags), k, f))
    finally:
        os.close(dfd)
    return out


def test_dot_after_a_non_directory_is_enotdir(base: Path) -> None:
    """"file/." names file as a directory (ENOTDIR, fifos and sockets too), and a
    symlink before "." is followed even with O_NOFOLLOW."""
    (base / "f").write_text("f")
    (base / "d").mkdir()
    os.mkfifo(base / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(base / "sock"))
    (base / "flink").symlink_to("f")
    (base / "dlink").symlink_to("d")
    (base / "fifolink").symlink_to("fifo")
    try:
        paths = ["f/.", "fifo/.", "sock/.", "flink/.", "dlink/.", "fifolink/.", "d/.",
                 "f/./.", "dlink/./", "f/..", "flink/..", "/proc/self/fd/0/."]
        assert _differences(base, paths) == []
    finally:
        sock.close()


def test_o_largefile_is_a_valid_flag_in_the_fallback(base: Path) -> None:
    """The kernel accepts O_LARGEFILE (as the kernel spells it: Python's constant is 0
    on 64-bit ABIs); so must the fallback, under a real EPERM filter."""
    (base / "f").write_text("f")

    def opened(resolve: int) -> list[str]:
        return [_answer(lambda: c.openat2(str(base / "f"), os.O_RDONLY | _O_LARGEFILE,
                                          resolve=resolve), base) for _ in range(2)]

    for resolve in (0, X):
        assert in_child(opened, resolve).get() == ["f", "f"]
        assert in_child(opened, resolve, rules={"openat2": Action.errno(1)}).get() == \
            ["f", "f"]


def test_no_xdev_allows_the_jump_to_an_absolute_path() -> None:
    """With dir_fd on another mount, "/" itself is allowed; crossings after it are not."""
    proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
    try:
        for path in ("/", "/proc", "/proc/self", "/.", "/.."):
            for flags in (os.O_PATH, os.O_PATH | os.O_DIRECTORY):
                k = _answer(partial(c.openat2, path, flags, dir_fd=proc, resolve=X), Path("/"))
                f = _answer(partial(resolve_open, proc, path.encode(), flags | os.O_CLOEXEC, 0,
                                    X), Path("/"))
                assert (path, k) == (path, f)
    finally:
        os.close(proc)


def _nosymfollow(base: str) -> list[tuple[object, ...]]:
    private_mount_namespace()
    root = Path(base)
    (root / "nsf").mkdir()
    mount_tmpfs(str(root / "nsf"), flags=MS_NOSYMFOLLOW)
    (root / "nsf" / "f").write_text("f")
    (root / "nsf" / "d").mkdir()
    (root / "nsf" / "link").symlink_to("f")
    (root / "nsf" / "dlink").symlink_to("d")
    (root / "nsf" / "abs").symlink_to("/nsf/f")
    (root / "into").symlink_to("nsf/f")  # a link on a normal mount into the nosymfollow one
    paths = ["nsf/link", "nsf/link/", "nsf/dlink/", "nsf/dlink/.", "nsf/abs", "into",
             "nsf/f", "nsf/d/.."]
    return _differences(root, paths, [0, B, R])


def test_a_nosymfollow_mount_refuses_its_links(base: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        got = in_child(_nosymfollow, str(base)).get()
    except AssertionError as exc:
        if "EINVAL" in str(exc):
            pytest.skip("this kernel has no MS_NOSYMFOLLOW (5.10+)")
        raise
    assert got == []


def _protected(base: str) -> list[tuple[object, ...]]:
    root = Path(base)
    for name, owner in (("sticky", 0), ("sticky_other", 1000)):
        d = root / name
        d.mkdir()
        os.chmod(d, 0o1777)
        os.chown(d, owner, owner)
        (d / "target").write_text("t")
        (d / "sub").mkdir()
        for link, link_owner in (("theirs", 1000), ("mine", 0)):
            (d / link).symlink_to("target")
            os.lchown(d / link, link_owner, link_owner)
            (d / f"{link}_dir").symlink_to("sub")
            os.lchown(d / f"{link}_dir", link_owner, link_owner)
    paths = [f"{d}/{p}" for d in ("sticky", "sticky_other")
             for p in ("theirs", "mine", "theirs_dir/", "theirs_dir/.", "mine_dir/")]
    return _differences(root, paths, [0, B, R], [os.O_PATH, os.O_RDONLY])


@pytest.mark.parametrize("setting", ["0", "1"])
def test_protected_symlinks_is_applied_like_the_kernel(base: Path, setting: str) -> None:
    """may_follow_link: a trailing symlink in a sticky world-writable directory is
    followed only by its owner or when the directory's owner owns it (root too)."""
    if os.geteuid() != 0:
        pytest.skip("files of another owner and the sysctl need root")
    os.chmod(base, 0o755)
    with sysctl("fs.protected_symlinks", setting):
        assert in_child(_protected, str(base)).get() == []


def _swapper(swaps: list[tuple[Path, list[tuple[str, int]]]], stop_after: float) -> None:
    """Swap each link between its (target, owner)s: rename(2) of a fresh link, atomic."""
    end = time.monotonic() + stop_after
    i = 0
    while time.monotonic() < end:
        for link, targets in swaps:
            target, owner = targets[i % len(targets)]
            tmp = link.with_name(link.name + ".tmp")
            with contextlib.suppress(OSError):
                os.symlink(target, tmp)
                os.lchown(tmp, owner, owner)
                os.rename(tmp, link)
        i += 1


def _race(base: str) -> dict[str, object]:
    """Resolutions while links change under us: a directory link alternating between a
    nosymfollow mount and a normal directory, and a trailing link in a sticky
    directory alternating between a follower-owned one and a stranger's."""
    private_mount_namespace()
    root = Path(base)
    for d in ("normal", "nsf", "sticky"):
        (root / d).mkdir()
    mount_tmpfs(str(root / "nsf"), flags=MS_NOSYMFOLLOW)
    for d in ("normal", "nsf"):
        (root / d / "file").write_text(d)
        (root / d / "link").symlink_to("file")
    os.chmod(root / "sticky", 0o1777)
    (root / "sticky" / "mine_target").write_text("allowed")
    (root / "sticky" / "theirs_target").write_text("refused")
    (root / "m").symlink_to("normal")
    (root / "sticky" / "l").symlink_to("mine_target")
    refused = {os.stat(root / "nsf" / "file").st_ino,
               os.stat(root / "sticky" / "theirs_target").st_ino}
    with warnings.catch_warnings():  # the swapper only renames: no lock of ours is held
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the swapper
        try:
            _swapper([(root / "m", [("normal", 0), ("nsf", 0)]),
                      (root / "sticky" / "l", [("mine_target", 0), ("theirs_target", 1000)])],
                     30)
        finally:
            os._exit(0)
    dfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    counts: dict[str, int] = {}
    wrong: list[tuple[bytes, int]] = []
    try:
        for i in range(4000):
            path = (b"m/link", b"sticky/l")[i % 2]
            try:
                fd = resolve_open(dfd, path, os.O_RDONLY | os.O_CLOEXEC, 0, (B, R)[i // 2 % 2])
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, str(exc))
                counts[name] = counts.get(name, 0) + 1
                continue
            if os.fstat(fd).st_ino in refused:
                wrong.append((path, i))
            os.close(fd)
            counts["ok"] = counts.get("ok", 0) + 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(dfd)
    return {"wrong": wrong, "counts": counts}


def test_no_refused_link_is_followed_while_links_change(base: Path) -> None:
    """A link checked (its mount, its owner) is the link read: readlinkat on the
    descriptor, never the name again, so a swap between the check and the read
    cannot make the fallback follow what the kernel refuses."""
    if os.geteuid() != 0:
        pytest.skip("mounts, other owners and the sysctl need root")
    os.chmod(base, 0o755)
    with sysctl("fs.protected_symlinks", "1"):
        got = in_child(_race, str(base), timeout=120).get()
    print(f"\nrace: {got['counts']} over 4,000 fallback resolutions")
    assert got["wrong"] == []
    # Only answers the kernel gives here: the file, ELOOP (nosymfollow), EACCES
    # (protected_symlinks), ENOENT (a name between two renames), EAGAIN (retries).
    assert set(got["counts"]) <= {"ok", "ELOOP", "EACCES", "ENOENT", "EAGAIN"}, got["counts"]
    assert got["counts"].get("ok", 0) > 0
