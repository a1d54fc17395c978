"""The kernel's own openat2 selftests (tools/testing/selftests/openat2/), ported as
facts: resolve_test.c's tree and its 88 cases, run three ways (the kernel, the
userspace resolver, and the public wrapper under a real EPERM filter, which takes
the fallback; the kernel must give each case's stated answer here, and both
fallbacks exactly the kernel's), and rename_attack_test.c's race (no escape while
two directories are exchanged without pause)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import warnings
from pathlib import Path

import pytest

from seccompat import calls as c
from seccompat._classifier import classify
from seccompat.bpf import Action
from seccompat.calls._resolver import resolve_open

from ..kernel import (
    MS_NODEV,
    MS_NOSUID,
    bind,
    in_child,
    mount_tmpfs,
    private_mount_namespace,
)

pytestmark = [
    pytest.mark.skipif(classify("openat2").status.value != "available",
                       reason="the kernel's openat2 is the reference"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the selftests mount a tmpfs: root needed"),
]

B, R = c.RESOLVE_BENEATH, c.RESOLVE_IN_ROOT
X, M, S = c.RESOLVE_NO_XDEV, c.RESOLVE_NO_MAGICLINKS, c.RESOLVE_NO_SYMLINKS
NOFOLLOW, CREAT = os.O_NOFOLLOW, os.O_CREAT
FD = "self/fd/{fd}"  # the selftest's hardcoded_fdpath: a descriptor dup2'd onto the dir

#: The tree setup_testdir() builds: (name, symlink target or None for a directory,
#: "" for an empty file).
TREE = [
    ("procexe", "/proc/self/exe"), ("procroot", "/proc/self/root"), ("root", None),
    ("mnt", None), ("etc", None), ("etc/passwd", ""), ("creatlink", "/newfile3"),
    ("reletc", "etc/"), ("relsym", "etc/passwd"), ("absetc", "/etc/"),
    ("abssym", "/etc/passwd"), ("abscheeky", "/cheeky"), ("cheeky", None),
    ("cheeky/absself", "/"), ("cheeky/self", "../../root/"),
    ("cheeky/garbageself", "/../../root/"),
    ("cheeky/passwd", "../cheeky/../etc/../etc/passwd"),
    ("cheeky/abspasswd", "/../cheeky/../etc/../etc/passwd"),
    ("cheeky/dotdotlink", "../../../../../../../../../../../../../../etc/passwd"),
    ("cheeky/garbagelink", "/../../../../../../../../../../../../../../etc/passwd"),
]
#: Made after the tmpfs is mounted on mnt.
IN_MNT = [("mnt/self", "../mnt/"), ("mnt/absself", "/mnt/")]

# (dir, path, extra flags, resolve, expected): expected is an errno name, or the path
# the descriptor must have: relative to the tree's root ("" is the root itself), or
# absolute ("/", "/proc", "EXE" for /proc/<pid>/exe).
CASES: list[tuple[str | None, str, int, int, str]] = [
    # RESOLVE_BENEATH: attempts to cross dirfd are blocked
    (None, "/", 0, B, "EXDEV"), (None, "cheeky/absself", 0, B, "EXDEV"),
    (None, "abscheeky/absself", 0, B, "EXDEV"), (None, "..", 0, B, "EXDEV"),
    (None, "../root/", 0, B, "EXDEV"), (None, "cheeky/self", 0, B, "EXDEV"),
    (None, "abscheeky/self", 0, B, "EXDEV"), (None, "cheeky/garbageself", 0, B, "EXDEV"),
    (None, "abscheeky/garbageself", 0, B, "EXDEV"),
    (None, "root", 0, B, "root"), (None, "etc", 0, B, "etc"),
    (None, "etc/passwd", 0, B, "etc/passwd"), (None, "relsym", 0, B, "etc/passwd"),
    (None, "cheeky/passwd", 0, B, "etc/passwd"), (None, "abscheeky/passwd", 0, B, "EXDEV"),
    (None, "abssym", 0, B, "EXDEV"), (None, "/etc/passwd", 0, B, "EXDEV"),
    (None, "cheeky/abspasswd", 0, B, "EXDEV"), (None, "abscheeky/abspasswd", 0, B, "EXDEV"),
    (None, "cheeky/dotdotlink", 0, B, "EXDEV"), (None, "abscheeky/dotdotlink", 0, B, "EXDEV"),
    (None, "cheeky/garbagelink", 0, B, "EXDEV"),
    (None, "abscheeky/garbagelink", 0, B, "EXDEV"),
    # RESOLVE_IN_ROOT: every attempt to cross dirfd is scoped to it
    (None, "/", 0, R, ""), (None, "cheeky/absself", 0, R, ""),
    (None, "abscheeky/absself", 0, R, ""), (None, "..", 0, R, ""),
    (None, "../root/", 0, R, "root"), (None, "cheeky/self", 0, R, "root"),
    (None, "cheeky/garbageself", 0, R, "root"), (None, "abscheeky/garbageself", 0, R, "root"),
    (None, "root", 0, R, "root"), (None, "etc", 0, R, "etc"),
    (None, "etc/passwd", 0, R, "etc/passwd"), (None, "relsym", 0, R, "etc/passwd"),
    (None, "cheeky/passwd", 0, R, "etc/passwd"), (None, "abscheeky/passwd", 0, R, "etc/passwd"),
    (None, "abssym", 0, R, "etc/passwd"), (None, "/etc/passwd", 0, R, "etc/passwd"),
    (None, "cheeky/abspasswd", 0, R, "etc/passwd"),
    (None, "abscheeky/abspasswd", 0, R, "etc/passwd"),
    (None, "cheeky/dotdotlink", 0, R, "etc/passwd"),
    (None, "abscheeky/dotdotlink", 0, R, "etc/passwd"),
    (None, "/../../../../abscheeky/dotdotlink", 0, R, "etc/passwd"),
    (None, "cheeky/garbagelink", 0, R, "etc/passwd"),
    (None, "abscheeky/garbagelink", 0, R, "etc/passwd"),
    (None, "/../../../../abscheeky/garbagelink", 0, R, "etc/passwd"),
    # O_CREAT and trailing symlinks
    (None, "newfile1", CREAT, R, "newfile1"), (None, "/newfile2", CREAT, R, "newfile2"),
    (None, "/creatlink", CREAT, R, "newfile3"),
    # RESOLVE_NO_XDEV: crossing down into a mount point, or up out of one
    (None, "mnt", 0, X, "EXDEV"), (None, "mnt/", 0, X, "EXDEV"), (None, "mnt/.", 0, X, "EXDEV"),
    ("mnt", ".", 0, X, "mnt"), ("mnt", "..", 0, X, "EXDEV"), ("mnt", "../mnt", 0, X, "EXDEV"),
    ("mnt", "self", 0, X, "EXDEV"), ("mnt", "absself", 0, X, "EXDEV"),
    # jumping to "/" is allowed, later crossings are not
    ("mnt", "/", 0, X, "/"), ("/", "/", 0, X, "/"), (None, "/proc/1", 0, X, "EXDEV"),
    (None, "/tmp", 0, X, "EXDEV"),
    # magic links switch mounts, except a jump within the same procfs
    ("/proc", "self/root", 0, X, "EXDEV"), ("/proc", "self/cwd", 0, X, "EXDEV"),
    ("/proc", FD, 0, X, "/proc"),
    # RESOLVE_NO_MAGICLINKS
    (None, "relsym", 0, M, "etc/passwd"), (None, "procexe", 0, M, "ELOOP"),
    (None, "/proc/self/exe", 0, M, "ELOOP"), (None, "/proc/self/exe", NOFOLLOW, M, "EXE"),
    (None, "procroot/etc", 0, M, "ELOOP"), (None, "/proc/self/root/etc", 0, M, "ELOOP"),
    (None, "/proc/self/root/etc", NOFOLLOW, M, "ELOOP"),
    # RESOLVE_NO_SYMLINKS
    (None, ".", 0, S, ""), (None, "root", 0, S, "root"), (None, "etc", 0, S, "etc"),
    (None, "etc/passwd", 0, S, "etc/passwd"), (None, "relsym", 0, S, "ELOOP"),
    (None, "reletc/passwd", 0, S, "ELOOP"), (None, "abssym", 0, S, "ELOOP"),
    (None, "absetc/passwd", 0, S, "ELOOP"), (None, "cheeky/garbagelink", 0, S, "ELOOP"),
    (None, "abscheeky/garbagelink", 0, S, "ELOOP"), (None, "abscheeky/absself", 0, S, "ELOOP"),
    (None, "relsym", NOFOLLOW, S, "relsym"), (None, "abssym", NOFOLLOW, S, "abssym"),
    (None, "cheeky/garbagelink", NOFOLLOW, S, "cheeky/garbagelink"),
    (None, "abscheeky/absself", NOFOLLOW, S, "ELOOP"),
    (None, "abscheeky/garbagelink", NOFOLLOW, S, "ELOOP"),
]


def _build(root: Path) -> None:
    for name, target in TREE:
        if target is None:
            (root / name).mkdir()
        elif target == "":
            (root / name).touch()
        else:
            (root / name).symlink_to(target)
    mount_tmpfs(str(root / "mnt"), flags=MS_NOSUID | MS_NODEV)
    for name, target in IN_MNT:
        (root / name).symlink_to(target)


def _run(how: str, base: str) -> list[str]:
    """Every case, in this child's own mount namespace, the way *how* names."""
    private_mount_namespace()
    bind("/tmp", "/tmp")  # the selftest's /tmp is a mount point ("jump to / then tmp")
    root = Path(base) / "root"
    root.mkdir()
    _build(root)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    spare = os.open("/dev/null", os.O_RDONLY)  # the selftest's hardcoded_fd
    got = []
    for directory, path, extra, resolve, _ in CASES:
        flags = extra if extra & CREAT else extra | os.O_PATH
        dfd = os.open(directory if directory else root, os.O_PATH | os.O_DIRECTORY,
                      dir_fd=rootfd) if directory else os.dup(rootfd)
        os.dup2(dfd, spare)
        raw = path.format(fd=spare).encode()
        try:
            if how == "fallback":
                fd = resolve_open(dfd, raw, flags | os.O_CLOEXEC, 0o700, resolve)
            else:
                fd = c.openat2(raw, flags, 0o700, dir_fd=dfd, resolve=resolve)
        except OSError as exc:
            got.append(errno.errorcode.get(exc.errno or 0, str(exc)))
        else:
            where = os.readlink(f"/proc/self/fd/{fd}")
            os.close(fd)
            got.append("EXE" if where == f"/proc/{os.getpid()}/exe" else
                       "" if where == str(root) else
                       where[len(str(root)) + 1:] if where.startswith(f"{root}/") else where)
        finally:
            os.close(dfd)
    return got


@pytest.mark.parametrize("how", ["kernel", "fallback", "wrapper-under-eperm"])
def test_the_kernels_openat2_selftests(how: str) -> None:
    base = tempfile.mkdtemp(prefix="seccompat-ksft-", dir="/tmp")
    try:
        rules = {"openat2": Action.errno(1)} if how == "wrapper-under-eperm" else None
        got = in_child(_run, how, base, rules=rules).get()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    wrong = [(case, answer) for case, answer in zip(CASES, got, strict=True)
             if answer != case[4]]
    assert len(CASES) == 88
    assert wrong == [], "\n".join(f"{case} -> {answer}" for case, answer in wrong)


# --- rename_attack_test.c: a/c and b exchanged without pause -----------------------

#: The victim path: "c/../.." twenty times, from a directory fd on "a".
VICTIM = "/".join(["c/../.."] * 20)
RENAME_EXCHANGE = 2


def _exchange_forever(base: str) -> None:  # pragma: no cover - the attacker child
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    a_c, b = os.path.join(base, "a/c").encode(), os.path.join(base, "b").encode()
    while True:
        libc.renameat2(-100, a_c, -100, b, RENAME_EXCHANGE)


def _rename_attack(base: str, how: str, resolve: int, rounds: int) -> dict[str, int]:
    afd = os.open(os.path.join(base, "a"), os.O_PATH | os.O_DIRECTORY)
    a = os.fstat(afd)
    with warnings.catch_warnings():  # the attacker only calls renameat2
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            _exchange_forever(base)
        finally:
            os._exit(1)
    counts: dict[str, int] = {}
    try:
        for _ in range(rounds):
            try:
                if how == "kernel":
                    fd = c.openat2(VICTIM, os.O_PATH, dir_fd=afd, resolve=resolve)
                else:
                    fd = resolve_open(afd, VICTIM.encode(), os.O_PATH | os.O_CLOEXEC, 0, resolve)
            except OSError as exc:
                key = errno.errorcode.get(exc.errno or 0, str(exc))
            else:
                st = os.fstat(fd)
                os.close(fd)
                key = "a" if (st.st_dev, st.st_ino) == (a.st_dev, a.st_ino) else "ESCAPE"
            counts[key] = counts.get(key, 0) + 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(afd)
    return counts


@pytest.mark.parametrize("resolve", [B, R], ids=["RESOLVE_BENEATH", "RESOLVE_IN_ROOT"])
@pytest.mark.parametrize("how", ["kernel", "fallback"])
def test_the_kernels_rename_attack(how: str, resolve: int) -> None:
    """No escape while a/c and b are exchanged without pause (the selftest counts
    ENOENT as an escape: outside the root there is no "c")."""
    base = tempfile.mkdtemp(prefix="seccompat-ksft-rename-")
    try:
        for d in ("a", "a/c", "b"):
            os.mkdir(os.path.join(base, d))
        rounds = 20_000 if how == "kernel" else 10_000
        counts = in_child(_rename_attack, base, how, resolve, rounds, timeout=300).get()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nrename attack, {how}: {counts} over {rounds} resolutions")
    allowed = {"EXDEV", "EAGAIN"} | ({"a"} if resolve == R else set())
    assert set(counts) <= allowed, counts
