"""The shim on real programs that break in old containers: each fails under an old
profile without the shim and works with it, and a call the profile denies on
purpose keeps its errno.  Programs absent here are skipped, with the reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from seccompat.syscalls import native_arch

from ..cli.test_cli import SECCOMPAT
from ..kernel import PROFILES, PYTHON

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(native_arch().name != "x86_64", reason="x86_64 profiles")]

#: The outer filters: our 5.2-era EPERM filter, and corpus profiles as the runtime of
#: the 2020-2021 breakage installed them (containers-common's also denies ptrace, so
#: the shim plans from its probes there).
OUTERS = {
    "deny-newer-than-5.2": ["run", "--deny-newer-than", "5.2", "--deny", "kcmp", "--"],
    "containers-common-2020/podman-2.1": [
        "run", "--profile", str(PROFILES / "containers-common-seccomp-2020-08-27.json"),
        "--runtime", "podman:2.1.0+crun:0.15", "--"],
    "moby-20.10.0/docker-20.10.0": [
        "run", "--profile", str(PROFILES / "moby-default-v20.10.0.json"),
        "--runtime", "docker:20.10.0", "--"],
    "moby-19.03/docker-19.03": [
        "run", "--profile", str(PROFILES / "moby-default-v19.03.0.json"),
        "--runtime", "docker:19.03.0", "--"],
}

#: name -> (argv, what breaks it)
PROGRAMS: dict[str, tuple[list[str], str]] = {
    "node": (["node", "-e", "new (require('worker_threads').Worker)('1', {eval: true})"
              ".on('exit', () => console.log('ok'))"], "clone3 (libuv threads)"),
    "java": (["java", "-version"], "clone3 (the JVM's threads)"),
    "perl": (["perl", "-Mthreads", "-e", "threads->create(sub { print qq(ok\\n) })->join"],
             "clone3 (pthread_create)"),
    "rustc": (["rustc", "--version"], "clone3 (std::thread)"),
    "cpython-threads": ([PYTHON, "-c", "import threading; t = threading.Thread(); t.start(); "
                         "t.join()"], "clone3"),
    "os.access(effective_ids=True)": (
        [PYTHON, "-c", "import os, sys; sys.exit(not os.access('/etc/passwd', os.R_OK, "
         "effective_ids=True))"], "faccessat2"),
    "bash test -r": (["bash", "-c", "test -r /etc/passwd"], "faccessat2 (glibc faccessat)"),
    "git clone": (["git", "clone", "-q", "{repo}", "copy"], "nothing here: it must keep working"),
}

#: Where a program works without the shim: Docker 20.10.0's default already allows
#: faccessat2, and a local git clone makes none of the new calls.
WORKS_WITHOUT = {("moby-20.10.0/docker-20.10.0", "os.access(effective_ids=True)"),
                 ("moby-20.10.0/docker-20.10.0", "bash test -r")} | {
    (outer, "git clone") for outer in OUTERS}

#: A call every outer profile denies on purpose (kcmp(2), granted only with
#: CAP_SYS_PTRACE), which must stay EPERM; unfiltered it is ESRCH here.
DELIBERATE = [PYTHON, "-c", "import ctypes; l = ctypes.CDLL(None, use_errno=True); "
              "l.syscall(312, 0, 0, 0, 0, 0); print(ctypes.get_errno())"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path_factory.mktemp("repo")
    git = ["git", "-C", str(path), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "file").write_text("x")
    subprocess.run([*git, "add", "file"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    return path


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=cwd,
                          check=False)


@pytest.mark.parametrize("program", list(PROGRAMS))
@pytest.mark.parametrize("outer", list(OUTERS))
def test_the_program_fails_without_the_shim_and_works_with_it(
        outer: str, program: str, repo: Path, tmp_path: Path) -> None:
    argv, breaks = PROGRAMS[program]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    argv = [a.replace("{repo}", str(repo)) for a in argv]
    run = [*SECCOMPAT, *OUTERS[outer]]
    (tmp_path / "without").mkdir()
    (tmp_path / "with").mkdir()
    without = _run([*run, *argv], tmp_path / "without")
    if (outer, program) in WORKS_WITHOUT:
        assert without.returncode == 0, without.stderr[-2000:]
    else:
        assert without.returncode != 0, f"{program} no longer breaks ({breaks})"
    fixed = _run([*run, *SECCOMPAT, "shim", "--", *argv], tmp_path / "with")
    assert fixed.returncode == 0, fixed.stderr[-2000:]


@pytest.mark.parametrize("outer", list(OUTERS))
def test_a_deliberate_denial_keeps_its_errno(outer: str, tmp_path: Path) -> None:
    run = [*SECCOMPAT, *OUTERS[outer]]
    assert _run([*run, *DELIBERATE], tmp_path).stdout == "1\n"
    shimmed = _run([*run, *SECCOMPAT, "shim", "--", *DELIBERATE], tmp_path)
    assert shimmed.stdout == "1\n", shimmed.stderr  # EPERM still, not ENOSYS


def test_cpython_regression_tests_pass_under_the_shim(tmp_path: Path) -> None:
    """CPython's own test_threading, test_os, test_shutil and test_subprocess fail
    under the 2020 containers-common default; under the shim they pass as they pass
    with no filter at all (the run with no filter is the reference: a test that
    fails there for reasons of this machine is left out, said here)."""
    probe = _run([PYTHON, "-c", "import test.support"], tmp_path)
    if probe.returncode != 0:
        pytest.skip(f"{PYTHON} has no test package")
    # test_import_from_another_thread wants threading unimported at start-up, which a
    # site .pth that imports it breaks (it fails here with no filter at all).
    tests = [PYTHON, "-m", "test", "-q", "--ignore", "test_import_from_another_thread",
             "test_threading", "test_os", "test_shutil", "test_subprocess"]
    reference = _run(tests, tmp_path)
    assert reference.returncode == 0, reference.stdout[-3000:]
    outer = [*SECCOMPAT, *OUTERS["containers-common-2020/podman-2.1"]]
    without = _run([*outer, *tests], tmp_path)
    assert without.returncode != 0
    shimmed = _run([*outer, *SECCOMPAT, "shim", "--", *tests], tmp_path)
    assert shimmed.returncode == 0, shimmed.stdout[-3000:] + shimmed.stderr[-2000:]
