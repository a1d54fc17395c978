"""Attacks on the openat2 fallback: an unprivileged process in its own user and
mount namespace tries to make a root victim's scoped resolution reach a file
outside the root.  The kernel's answer is the reference; the fallback (C build
and pure-Python build alike) must never open what the kernel refuses."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seccompat import calls as c
from seccompat._classifier import classify

from ..kernel import PYTHON, ROOT, in_child, no_descriptor_leaks, private_mount_namespace

pytestmark = pytest.mark.skipif(classify("openat2").status.value != "available",
                                reason="the kernel's openat2 is the reference")

_CLONE_NEWNS, _CLONE_NEWUSER = 0x00020000, 0x10000000


@pytest.fixture(autouse=True)
def _no_descriptor_leaks() -> Iterator[None]:
    with no_descriptor_leaks():
        yield

_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
NOBODY = 65534
_PR_SET_DUMPABLE = 4

_VICTIM = textwrap.dedent("""
    import errno, json, os, sys
    from seccompat import calls as c
    from seccompat.bpf import Action, Filter, compile_filter, install
    from seccompat.raw import IMPLEMENTATION
    root, cases = sys.argv[1], json.loads(sys.argv[2])
    install(compile_filter(Filter.simple(Action.allow(), {"openat2": Action.errno(1)})))
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    out = {"implementation": IMPLEMENTATION, "results": []}
    for path, flags, resolve in cases:
        try:
            got = os.fstat(r := c.openat2(path, flags, dir_fd=fd, resolve=resolve)).st_ino
            os.close(r)
        except OSError as exc:
            got = errno.errorcode.get(exc.errno, str(exc.errno))
        out["results"].append(got)
    print(json.dumps(out))
""")


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    _check(_libc().mount(source.encode(), target.encode(),
                         fstype.encode() if fstype else None, flags, None), f"mount {target}")


def _attacker(root: str, outside: str, ready: int) -> None:  # pragma: no cover - child
    """As nobody, in a new user and mount namespace: make ROOT/proc/<pid>/cwd, as the
    victim's procfs shows it, a magic link to *outside*, whose path prints as inside."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    # Changing uid made the process non-dumpable: its /proc files belong to root.
    _check(_libc().prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl")
    _check(_libc().unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {NOBODY} 1")
    Path("/proc/self/gid_map").write_text(f"0 {NOBODY} 1")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    _mount("tmpfs", f"{root}/proc", "tmpfs", 0)
    fake_cwd = f"{root}/proc/{os.getpid()}/cwd"
    os.makedirs(fake_cwd)
    _mount(outside, fake_cwd, None, _MS_BIND)
    os.chdir(fake_cwd)
    os.write(ready, str(os.getpid()).encode())
    signal.pause()


def _scenario(base: str) -> dict[str, Any]:
    """In a private mount namespace (a child of the test): a procfs inside ROOT, an
    attacker as above, then the victim's calls with the kernel and (in two
    subprocesses, C and pure Python) under a filter that refuses openat2."""
    private_mount_namespace()
    root, outside = f"{base}/root", f"{base}/outside"
    os.makedirs(f"{root}/proc")
    os.makedirs(outside)
    os.chmod(base, 0o755)
    os.chmod(root, 0o755)
    os.chmod(outside, 0o755)
    secret = Path(outside, "secret")
    secret.write_text("secret")
    secret.chmod(0o600)
    _mount("proc", f"{root}/proc", "proc", 0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the attacker
        try:
            os.close(r)
            _attacker(root, outside, w)
        finally:
            os._exit(1)
    os.close(w)
    try:
        attacker = int(os.read(r, 32) or b"0")
        if not attacker:
            return {"skip": "the attacker could not set up its namespaces (unprivileged "
                            "user namespaces refused?)"}
        path = f"proc/{attacker}/cwd/secret"
        cases: list[tuple[str, int, int]] = [(path, flags, resolve)
                 for resolve in (c.RESOLVE_IN_ROOT, c.RESOLVE_BENEATH,
                                 c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS,
                                 c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS,
                                 c.RESOLVE_NO_MAGICLINKS)
                 for flags in (os.O_RDONLY, os.O_RDWR)]
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        kernel: list[int | str] = []
        for p, flags, resolve in cases:
            try:
                got = c.openat2(p, flags, dir_fd=fd, resolve=resolve)
                kernel.append(os.fstat(got).st_ino)
                os.close(got)
            except OSError as exc:
                kernel.append(errno.errorcode[exc.errno or 0])
        os.close(fd)
        fallbacks = []
        for pure in ("", "1"):
            env = {**os.environ, "SECCOMPAT_PURE_PYTHON": pure,
                   "PYTHONPATH": str(ROOT / "src")}
            done = subprocess.run([PYTHON, "-c", _VICTIM, root, json.dumps(cases)], env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
            if done.returncode:
                return {"error": done.stderr}
            fallbacks.append(json.loads(done.stdout))
        return {"secret": os.stat(secret).st_ino, "kernel": kernel, "fallbacks": fallbacks,
                "content": secret.read_text()}
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="the victim is root, the attacker nobody")
def test_a_namespace_attacker_cannot_steer_a_scoped_fallback_outside() -> None:
    base = tempfile.mkdtemp(prefix="seccompat-attack-")
    try:
        got = in_child(_scenario, base, timeout=120).get()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if "skip" in got:
        pytest.skip(got["skip"])
    assert "error" not in got, got.get("error")
    # The kernel refuses every case (EXDEV for a scoped magic link, ELOOP otherwise).
    assert all(isinstance(k, str) for k in got["kernel"]), got["kernel"]
    implementations = {f["implementation"] for f in got["fallbacks"]}
    assert "ctypes" in implementations
    for fallback in got["fallbacks"]:
        assert got["secret"] not in fallback["results"], fallback
        assert fallback["results"] == got["kernel"], fallback
    assert got["content"] == "secret"


# --- kernel == fallback on an adversarial tree with a procfs inside the root -------

_PROC_PATHS = ["proc/self/cwd", "proc/self/cwd/f", "proc/self/root", "proc/self/root/etc",
               "proc/self/exe", "proc/self/fd/0", "proc/thread-self/cwd/f", "proc/1/root/",
               "proc/self/fd", "proc/self/fd/", "proc/self/ns/mnt", "proc/self/map_files",
               "proc/self/status", "proc/../proc/self/cwd", "proc/self/task", "proc",
               "proc/", "proc/self", "selflink/cwd", "selflink/cwd/f", "tself/root",
               "/proc/self/cwd", "/proc/self/root/..", "f"]
_PROC_RESOLVES = [c.RESOLVE_BENEATH, c.RESOLVE_IN_ROOT, c.RESOLVE_NO_MAGICLINKS,
                  c.RESOLVE_NO_SYMLINKS, c.RESOLVE_BENEATH | c.RESOLVE_NO_MAGICLINKS,
                  c.RESOLVE_IN_ROOT | c.RESOLVE_NO_XDEV, c.RESOLVE_NO_XDEV]
_PROC_FLAGS = [os.O_RDONLY, os.O_PATH, os.O_PATH | os.O_NOFOLLOW, os.O_DIRECTORY]


def _identify(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    os.close(fd)
    return st.st_dev, st.st_ino


def _answer(fn: Any, *args: Any, **kwargs: Any) -> tuple[int, int] | str:
    try:
        return _identify(fn(*args, **kwargs))
    except OSError as exc:
        return errno.errorcode[exc.errno or 0]


def _proc_matrix(base: str) -> list[tuple[Any, ...]]:
    from seccompat.calls._resolver import resolve_open

    private_mount_namespace()
    root = f"{base}/root"
    os.makedirs(f"{root}/proc")
    Path(root, "f").write_text("f")
    os.symlink("proc/self", f"{root}/selflink")
    os.symlink("/proc/thread-self", f"{root}/tself")
    _mount("proc", f"{root}/proc", "proc", 0)
    os.chdir(root)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    mismatches = []
    for path in _PROC_PATHS:
        for resolve in _PROC_RESOLVES:
            for flags in _PROC_FLAGS:
                kernel = _answer(c.openat2, path, flags, dir_fd=fd, resolve=resolve)
                fallback = _answer(resolve_open, fd, path.encode(), flags | os.O_CLOEXEC, 0,
                                   resolve)
                # A refusal where the kernel answers is the fallback's right (it says
                # EAGAIN rather than guess); an object the kernel would not give, never.
                if fallback not in (kernel, "EAGAIN"):
                    mismatches.append((path, hex(resolve), oct(flags), kernel, fallback))
    return mismatches


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a procfs inside the root needs root")
def test_fallback_matches_the_kernel_with_procfs_inside_the_root() -> None:
    base = tempfile.mkdtemp(prefix="seccompat-procroot-")
    try:
        mismatches = in_child(_proc_matrix, base, timeout=120).get()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert mismatches == [], "\n".join(map(str, mismatches))
