"""openat2 and its userspace resolver: conformance with the kernel, a property test,
an adversarial race, and the wrapper under a real EPERM filter."""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action
from seccompat.calls._openat2 import _O_LARGEFILE
from seccompat.calls._resolver import resolve_open

from ..kernel import (
    in_child,
    mount_tmpfs,
    no_descriptor_leaks,
    open_fds,
    private_mount_namespace,
)

pytestmark = pytest.mark.skipif(classify("openat2").status.value != "available",
                                reason="the kernel path is the reference: openat2 is needed")

B, R = c.RESOLVE_BENEATH, c.RESOLVE_IN_ROOT
RESOLVES = [0, B, R, c.RESOLVE_NO_SYMLINKS, c.RESOLVE_NO_MAGICLINKS, c.RESOLVE_NO_XDEV,
            B | c.RESOLVE_NO_XDEV, R | c.RESOLVE_NO_SYMLINKS, B | c.RESOLVE_NO_MAGICLINKS]
FLAGS = [os.O_RDONLY, os.O_PATH, os.O_PATH | os.O_NOFOLLOW, os.O_DIRECTORY,
         os.O_WRONLY | os.O_CREAT, os.O_WRONLY | os.O_CREAT | os.O_EXCL, os.O_RDWR | os.O_TRUNC,
         os.O_RDONLY | _O_LARGEFILE]
PATHS = ["f", "d", "d/f2", "d/", "f/", "d/..", "..", "../f", "d/../f", "/f", "/d/f2", "/..",
         "rel", "abs", "chain", "up", "up/f", "dangling", "loop", "d/inner/x", "new",
         "d/new", "absdir/f2", "dirlink/", "dirlink/f2", ".", "", "mnt/m", "mnt/..",
         "proclink", "procexe", "/proc/self/fd/0", "/proc/self/exe",
         # "." after a name makes it a non-final component: a directory, links followed
         "f/.", "d/.", "dirlink/.", "rel/.", "dirlink/./f2", "d/./inner/.", "proclink/."]


@pytest.fixture(autouse=True)
def _no_descriptor_leaks() -> Iterator[None]:
    """Every resolver test ends with the descriptors it began with."""
    with no_descriptor_leaks():
        yield


def build(root: Path) -> None:
    (root / "f").write_text("f")
    (root / "d").mkdir()
    (root / "d" / "f2").write_text("f2")
    (root / "d" / "inner").mkdir()
    (root / "d" / "inner" / "x").write_text("x")
    (root / "rel").symlink_to("d/f2")
    (root / "abs").symlink_to("/d/f2")
    (root / "chain").symlink_to("rel")
    (root / "up").symlink_to("..")
    (root / "dangling").symlink_to("nowhere")
    (root / "loop").symlink_to("loop")
    (root / "absdir").symlink_to("/d")
    (root / "dirlink").symlink_to("d")
    (root / "mnt").mkdir()
    (root / "proclink").symlink_to("/proc/self/fd/0")
    (root / "procexe").symlink_to("/proc/self/exe")


def describe(fd: int, root: Path) -> str:
    where = os.readlink(f"/proc/self/fd/{fd}")
    os.close(fd)
    prefix = str(root)
    if where == prefix:
        return "ROOT"
    if where.startswith(prefix + "/"):
        return where[len(prefix) + 1:]
    base = str(root.parent)
    if where == base:
        return "OUTSIDE:BASE"
    if where.startswith(base + "/"):
        return "OUTSIDE:" + where[len(base) + 1:]  # beside the tree, in its own base
    return "OUTSIDE:" + where


def outcome(fn: Any, root: Path) -> str:
    try:
        return describe(fn(), root)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def _matrix(kernel_root: str, fallback_root: str, with_mount: bool) -> list[tuple[Any, ...]]:
    if with_mount:  # a private mount namespace: the tmpfs exists only in this child
        with contextlib.suppress(OSError):  # refused: the tree has no mount inside
            private_mount_namespace()
            for r in (kernel_root, fallback_root):
                mount_tmpfs(r + "/mnt")
                Path(r, "mnt", "m").write_text("m")
    kroot, froot = Path(kernel_root), Path(fallback_root)
    kfd = os.open(kroot, os.O_PATH | os.O_DIRECTORY)
    ffd = os.open(froot, os.O_PATH | os.O_DIRECTORY)
    mismatches = []
    for path, resolve, flags in itertools.product(PATHS, RESOLVES, FLAGS):
        if _would_touch_the_machine(path, resolve, flags):
            continue
        raw = path.encode()
        mode = 0o644 if flags & os.O_CREAT else 0
        k = outcome(functools.partial(c.openat2, raw, flags, 0o644, dir_fd=kfd,
                                      resolve=resolve), kroot)
        f = outcome(functools.partial(resolve_open, ffd, raw, flags | os.O_CLOEXEC, mode,
                                      resolve), froot)
        if k != f:
            mismatches.append((path, hex(resolve), oct(flags), k, f))
    return mismatches


_WRITES = os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_RDWR


def _would_touch_the_machine(path: str, resolve: int, flags: int) -> bool:
    """Unscoped resolution of an absolute or /proc path with creating or writing
    flags acts on the real file system (it once created /f): never run those."""
    scoped = resolve & (c.RESOLVE_BENEATH | c.RESOLVE_IN_ROOT)
    leaves = path.startswith("/") or path.startswith("proc")
    return not scoped and leaves and bool(flags & _WRITES)


@pytest.fixture
def twin_trees() -> Iterator[tuple[Path, Path]]:
    """Two identical trees, each alone in its own directory (so that an unscoped
    "../x" means the same thing from both)."""
    bases = [Path(tempfile.mkdtemp(prefix="seccompat-openat2-")) for _ in range(2)]
    try:
        trees = (bases[0] / "t", bases[1] / "t")
        for t in trees:
            t.mkdir()
            build(t)
        yield trees
    finally:
        for b in bases:
            shutil.rmtree(b, ignore_errors=True)


def test_conformance_with_the_kernel(twin_trees: tuple[Path, Path]) -> None:
    with_mount = os.geteuid() == 0
    mismatches = in_child(_matrix, str(twin_trees[0]), str(twin_trees[1]), with_mount).get()
    assert mismatches == [], "\n".join(map(str, mismatches[:40]))


def test_the_wrapper_takes_the_fallback_under_a_real_eperm_filter(
        twin_trees: tuple[Path, Path]) -> None:
    root = twin_trees[0]

    def body() -> list[str]:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        verdict = classify("openat2").status.value
        return [verdict, *(outcome(lambda p=p, r=r: c.openat2(p, dir_fd=fd, resolve=r), root)
                           for p, r in [("abs", R), ("abs", B), ("up/f", R), ("d/f2", 0),
                                        ("chain", c.RESOLVE_NO_SYMLINKS)])]

    got = in_child(body, rules={"openat2": Action.errno(errno.EPERM)}).get()
    assert got == ["filtered", "d/f2", "EXDEV", "f", "d/f2", "ELOOP"]


def test_no_xdev_refusals_close_what_they_opened(twin_trees: tuple[Path, Path]) -> None:
    def body(root: str) -> tuple[set[str], int]:
        with contextlib.suppress(OSError):
            private_mount_namespace()
            mount_tmpfs(root + "/mnt")
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        before = len(open_fds())
        answers = set()
        for i in range(600):
            path, resolve = [(b"mnt", c.RESOLVE_NO_XDEV), (b"/proc/self", c.RESOLVE_NO_XDEV),
                             (b"mnt/..", c.RESOLVE_NO_XDEV | B)][i % 3]
            try:
                os.close(resolve_open(fd, path, os.O_PATH | os.O_CLOEXEC, 0, resolve))
                answers.add("ok")
            except OSError as exc:
                answers.add(errno.errorcode[exc.errno or 0])
        return answers, len(open_fds()) - before

    if os.geteuid() != 0:
        pytest.skip("the mount crossing needs a tmpfs mounted in the tree (root)")
    answers, leaked = in_child(body, str(twin_trees[0])).get()
    assert answers == {"EXDEV"}
    assert leaked == 0


def test_resolve_cached_fallback_is_eagain(twin_trees: tuple[Path, Path]) -> None:
    fd = os.open(twin_trees[0], os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(BlockingIOError):
            resolve_open(fd, b"f", os.O_RDONLY, 0, c.RESOLVE_CACHED)
    finally:
        os.close(fd)


def test_convenience_functions(twin_trees: tuple[Path, Path]) -> None:
    root = twin_trees[0]
    fd = c.open_in_root(root, "abs")
    assert describe(fd, root) == "d/f2"
    with pytest.raises(OSError, match="cross-device") as info:
        c.open_beneath(str(root), "abs")
    assert info.value.errno == errno.EXDEV
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        assert describe(c.open_beneath(root_fd, "d/../f"), root) == "f"
        with pytest.raises(OSError, match=r"symbolic links|cross-device|No such") as info:
            c.open_in_root(root_fd, "procexe")  # magic links are refused
        assert info.value.errno in (errno.ELOOP, errno.EXDEV, errno.ENOENT)
    finally:
        os.close(root_fd)
    assert c.OpenHow(os.O_RDONLY, 0, B).pack() == (0).to_bytes(8, "little") * 2 + \
        B.to_bytes(8, "little")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="null"):
        c.openat2("a\0b")
    with pytest.raises(TypeError):
        c.openat2(3.5)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="Invalid argument") as info:
        c.openat2("/", resolve=B | R)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError, match="Invalid argument") as info:
        c.openat2("/", resolve=0x4000)
    assert info.value.errno == errno.EINVAL


# --- property test ---------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c"])
_targets = st.one_of(
    st.lists(st.sampled_from(["a", "b", "c", "..", "."]), min_size=1, max_size=4).map("/".join),
    st.lists(st.sampled_from(["a", "b", "c", ".."]), min_size=1, max_size=3)
      .map(lambda p: "/" + "/".join(p)))


@st.composite
def _spec(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    entries = []
    for depth in range(draw(st.integers(1, 6))):
        parent = "/".join(draw(st.lists(_names, max_size=2)))
        kind = draw(st.sampled_from(["dir", "file", "link"]))
        entries.append((parent, f"{draw(_names)}{depth}" if kind != "dir" else draw(_names),
                        kind if kind != "link" else "link:" + draw(_targets)))
    return entries


def _make(root: Path, spec: list[tuple[str, str, str]]) -> None:
    for parent, name, kind in spec:
        d = root / parent
        try:
            d.mkdir(parents=True, exist_ok=True)
            target = d / name
            if kind == "dir":
                target.mkdir(exist_ok=True)
            elif kind == "file":
                target.write_text(name)
            else:
                target.symlink_to(kind.split(":", 1)[1])
        except OSError:
            continue


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_spec(), path=_targets, resolve=st.sampled_from(RESOLVES[:4]),
       flags=st.sampled_from([os.O_RDONLY, os.O_PATH, os.O_PATH | os.O_NOFOLLOW]))
def test_random_trees_match_the_kernel(spec: list[tuple[str, str, str]], path: str,
                                       resolve: int, flags: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="seccompat-prop-"))
    try:
        kroot, froot = base / "k", base / "f"
        for root in (kroot, froot):
            root.mkdir()
            _make(root, spec)
        kfd = os.open(kroot, os.O_PATH | os.O_DIRECTORY)
        ffd = os.open(froot, os.O_PATH | os.O_DIRECTORY)
        try:
            raw = path.encode()
            k = outcome(lambda: c.openat2(raw, flags, dir_fd=kfd, resolve=resolve), kroot)
            f = outcome(lambda: resolve_open(ffd, raw, flags | os.O_CLOEXEC, 0, resolve), froot)
        finally:
            os.close(kfd)
            os.close(ffd)
        if resolve == 0 and k.startswith("OUTSIDE:") and f.startswith("OUTSIDE:"):
            return  # unscoped: both left their twin tree, towards the same sibling name
        assert k == f, (spec, path, hex(resolve), oct(flags))
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- adversarial race -------------------------------------------------------------

def _attacker(base: Path, stop_after: float) -> None:
    """Move a subtree out of the root and back, and swap a symlink, as fast as possible."""
    root, away = base / "root", base / "away"
    end = time.monotonic() + stop_after
    link = root / "a" / "b" / "link"
    while time.monotonic() < end:
        try:
            os.rename(root / "a", away / "a")
            os.rename(away / "a", root / "a")
        except OSError:
            pass
        try:
            tmp = root / "a" / "b" / "link.tmp"
            os.symlink("../../../away/secret" if time.monotonic_ns() & 1 else "file", tmp)
            os.rename(tmp, link)
        except OSError:
            pass


def test_no_escape_under_concurrent_renames() -> None:
    base = Path(tempfile.mkdtemp(prefix="seccompat-race-"))
    try:
        (base / "root" / "a" / "b").mkdir(parents=True)
        (base / "away").mkdir()
        (base / "root" / "a" / "b" / "file").write_text("inside")
        (base / "away" / "secret").write_text("outside")
        (base / "root" / "a" / "b" / "link").symlink_to("file")
        inside = {os.stat(base / "root" / "a" / "b" / "file").st_ino,
                  os.stat(base / "root").st_ino, os.stat(base / "root" / "a").st_ino,
                  os.stat(base / "root" / "a" / "b").st_ino}
        secret = os.stat(base / "away" / "secret").st_ino
        with warnings.catch_warnings():  # (xdist's I/O thread: the child only renames)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the attacker
            try:
                _attacker(base, 60)
            finally:
                os._exit(0)
        root_fd = os.open(base / "root", os.O_PATH | os.O_DIRECTORY)
        counts: dict[str, int] = {"ok": 0}
        escapes = []
        fds_before = open_fds()
        try:
            paths = [b"a/b/file", b"a/b/link", b"a/../a/b/file", b"a/b/../../a/b/link"]
            for i in range(10_000):
                path = paths[i % len(paths)]
                resolve = (B, R)[i % 2]
                try:
                    fd = resolve_open(root_fd, path, os.O_RDONLY | os.O_CLOEXEC, 0, resolve)
                except OSError as exc:
                    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    counts[name] = counts.get(name, 0) + 1
                    continue
                ino = os.fstat(fd).st_ino
                os.close(fd)
                counts["ok"] += 1
                if ino == secret or ino not in inside:
                    escapes.append((path, resolve, ino))
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(root_fd)
        print(f"\nrace: {counts} over 10,000 fallback resolutions")
        assert escapes == []
        assert counts["ok"] > 0
        # Only answers the kernel gives under this race: the object, a missing name
        # (ENOENT), an escape refused (EXDEV), or EAGAIN; never a spurious EINVAL.
        assert set(counts) <= {"ok", "ENOENT", "EXDEV", "EAGAIN"}, counts
        assert open_fds() == fds_before - {root_fd}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_o_tmpfile_kernel_and_fallback(twin_trees: tuple[Path, Path]) -> None:
    def unnamed(fn: Any) -> tuple[Any, ...]:
        try:
            fd = fn()
        except OSError as exc:
            return ("error", exc.errno)
        try:
            st = os.fstat(fd)
            return (stat_kind(st.st_mode), st.st_nlink, os.readlink(f"/proc/self/fd/{fd}")
                    .rsplit("/", 1)[0].rsplit("/", 1)[-1])
        finally:
            os.close(fd)

    def stat_kind(mode: int) -> str:
        import stat

        return "file" if stat.S_ISREG(mode) else "other"

    flags = os.O_TMPFILE | os.O_WRONLY
    kroot, froot = twin_trees
    kfd = os.open(kroot, os.O_PATH | os.O_DIRECTORY)
    ffd = os.open(froot, os.O_PATH | os.O_DIRECTORY)
    try:
        for path, resolve in (("d", B), ("absdir", R), ("absdir", B), ("f", B)):
            k = unnamed(functools.partial(c.openat2, path, flags, 0o600, dir_fd=kfd,
                                          resolve=resolve))
            f = unnamed(functools.partial(resolve_open, ffd, path.encode(),
                                          flags | os.O_CLOEXEC, 0o600, resolve))
            assert k == f, (path, resolve)
        assert unnamed(functools.partial(c.openat2, "d", flags, 0o600, dir_fd=kfd,
                                         resolve=B)) == ("file", 0, "d")
    finally:
        os.close(kfd)
        os.close(ffd)


def test_c_entry_and_python_implementation_agree(twin_trees: tuple[Path, Path]) -> None:
    from seccompat.calls import _openat2 as module
    from seccompat.raw import fast

    if fast is None:
        pytest.skip("the C accelerator is not built")
    root = twin_trees[0]
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("d/f2",), {"dir_fd": fd}),
        ((b"d/f2", os.O_RDONLY), {"dir_fd": fd, "resolve": B}),
        ((root / "d" / "f2",), {}),                       # PathLike: the Python path
        (("abs", os.O_PATH, 0), {"dir_fd": fd, "resolve": R}),
        (("missing",), {"dir_fd": fd}),
        (("d/f2",), {"dir_fd": fd, "bogus": 1}),          # TypeError from Python
        (("d/f2",), {"dir_fd": fd, "resolve": -1}),       # ValueError from Python
        (("d/f2", 2**40), {"dir_fd": fd}),                # out of range: Python decides
        (("a\0b",), {}),
    ]
    try:
        for args, kwargs in cases:
            got: list[object] = []
            for impl in (module.openat2, module._openat2):
                try:
                    result = impl(*args, **kwargs)
                    got.append(describe(result, root))
                except Exception as exc:
                    got.append((type(exc).__name__, getattr(exc, "errno", None),
                                getattr(exc, "filename", None)))
            assert got[0] == got[1], (args, kwargs, got)
    finally:
        os.close(fd)
    assert getattr(module.openat2, "__wrapped__", None) is module._openat2  # a C entry
