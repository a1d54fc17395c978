"""The pytest plugin, through pytester: sessions, subprocesses and xdist workers under
a filter, ini keys, the marker, the header, and bad settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .kernel import PROFILES

pytest_plugins = ["pytester"]

PROFILE = PROFILES / "moby-default-v20.10.0.json"

# Checks made inside the session under test: raw syscalls through ctypes, so they
# do not depend on seccompat's own wrappers.
_PROBE = '''
import ctypes, errno, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)

def call(nr, *args):
    ctypes.set_errno(0)
    libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno()

def seccomp_mode(pid="self"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
'''


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_session_under_deny_newer_than(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_PROBE + '''
def test_effective_ids_access_breaks_under_eperm():
    assert seccomp_mode() == 2
    assert os.access("/", os.R_OK, effective_ids=True) is False  # glibc faccessat2: EPERM
    assert call(439, -100, 0, 0, 0x200) == errno.EPERM            # faccessat2 itself

def test_subprocesses_inherit_it():
    out = subprocess.run([sys.executable, "-c",
                          "print(open('/proc/self/status').read().count('Seccomp:\\t2'))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
''')
    result = _run(pytester, "--seccomp-deny-newer-than=5.4")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["seccomp: denying syscalls newer than Linux 5.4 with ERRNO(1)*"])
    enosys = _run(pytester, "--seccomp-deny-newer-than=5.4", "--seccomp-errno=ENOSYS")
    enosys.assert_outcomes(passed=1, failed=1)  # glibc falls back: access is True


def test_session_under_a_profile_and_runtime(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_PROBE + '''
def test_the_2021_clone3_breakage():
    assert call(435, 0, 0) == errno.EPERM     # clone3: below faccessat2, so EPERM
    assert call(441, 0, 0, 0, 0, 0) == errno.ENOSYS  # epoll_pwait2: runc's stub
''')
    result = _run(pytester, f"--seccomp-profile={PROFILE}",
                  "--seccomp-runtime=docker:20.10.0+runc:1.0.0-rc93")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["seccomp: profile *moby-default-v20.10.0.json as "
                                 "docker:20.10.0+runc:1.0.0-rc93 installs it*"])


def test_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nseccomp_deny_newer_than = 5.4\nseccomp_errno = ENOSYS\n")
    pytester.makepyfile(_PROBE + '''
def test_enosys():
    assert call(439, -100, 0, 0, 0x200) == errno.ENOSYS
''')
    _run(pytester).assert_outcomes(passed=1)


def test_xdist_workers_run_under_the_filter(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(_PROBE + '''
import pytest

@pytest.mark.parametrize("n", range(4))
def test_in_a_worker(n):
    assert os.environ.get("PYTEST_XDIST_WORKER")
    assert seccomp_mode() == 2
    assert call(439, -100, 0, 0, 0x200) == errno.EPERM
    filters = [l for l in open("/proc/self/status") if l.startswith("Seccomp_filters:")]
    if filters:
        assert int(filters[0].split()[1]) == 1   # inherited, not stacked again
''')
    # 5.4 keeps clone3 (5.3): under 5.2 execnet's threads cannot start, as in Docker 20.10.
    result = _run(pytester, "-n", "2", "--seccomp-deny-newer-than=5.4")
    result.assert_outcomes(passed=4)


def test_marker_runs_one_test_in_a_filtered_child(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_PROBE + '''
import pytest

@pytest.mark.seccomp(deny=["getcwd"])
def test_denied(tmp_path):
    with pytest.raises(PermissionError):
        os.getcwd()
    (tmp_path / "seen").write_text("child")   # fixtures work in the child

@pytest.mark.seccomp(deny=["getcwd"], errno="ENOSYS")
def test_failure_is_reported():
    os.getcwd()

@pytest.mark.seccomp(profile=r"PROFILE", runtime="runc:1.0.0-rc92")
def test_profile():
    assert call(441, 0, 0, 0, 0, 0) == errno.EPERM   # rc92: no stub

@pytest.mark.seccomp(deny=["getcwd"])
def test_skip_inside():
    pytest.skip("skipped in the child")

def test_parent_untouched():
    assert seccomp_mode() == 0
    assert os.getcwd()
'''.replace("PROFILE", str(PROFILE)))
    result = _run(pytester, "-rs")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*OSError*Function not implemented*"])
    result.stdout.fnmatch_lines(["*skipped in the child*"])


def test_bad_settings_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass\n")
    bad = _run(pytester, "--seccomp-deny-newer-than=five")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*seccomp:*five*"])
    missing = _run(pytester, "--seccomp-profile=/nonexistent.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR


def test_inactive_and_cheap_when_unused() -> None:
    code = ("import sys; import seccompat_pytest; "
            "print(sorted(m for m in sys.modules if m.startswith('seccompat')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.stdout.strip() == "['seccompat_pytest']"


# --- settings that cannot work, and a failing marked test ---------------------------

@pytest.mark.parametrize("args", [["--seccomp-runtime=docker:20.10.0"],
                                  ["--seccomp-errno=ENOSYS"],
                                  ["--seccomp-deny-newer-than=2.6"]])
def test_settings_that_cannot_work_are_usage_errors(pytester: pytest.Pytester,
                                                    args: list[str]) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "seccomp:" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_a_misspelt_marker_syscall_fails_at_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.seccomp(deny=["clon3"])
def test_threads():
    pass
''')
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*@pytest.mark.seccomp: unknown syscall 'clon3'; "
                                 "did you mean 'clone3'?*"])


def test_a_failing_marked_test_reports_its_own_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.seccomp(deny=["getppid"])
def test_fails_inside():
    value = 41
    assert value == 42, "the test's own message"
''')
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "line 6, in test_fails_inside" in out, out
    assert "the test's own message" in out
    assert "seccompat_pytest.py" not in out
