"""``seccompat probe`` and ``seccompat run``, end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..kernel import PYTHON

SECCOMPAT = [sys.executable, "-m", "seccompat"]

ACCESS = "import os; print(os.access('/', os.R_OK, effective_ids=True))"
THREAD = ("import threading\n"
          "try:\n"
          "    t = threading.Thread(target=lambda: None); t.start(); t.join(); print('started')\n"
          "except RuntimeError as e:\n"
          "    print('failed:', e)\n")


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SECCOMPAT, *args], capture_output=True, text=True, check=check,
                          timeout=120)


def test_probe_text(no_filter: None) -> None:
    done = cli("probe", check=True)
    header, container, blank, columns, *rows = done.stdout.splitlines()
    assert header.startswith(f"kernel {os.uname().release}")
    assert "seccomp disabled (0 filters)" in header
    assert "probes run in this process" in container
    assert blank == ""
    assert columns.split() == ["NAME", "NR", "SINCE", "STATUS", "ERRNO", "EVIDENCE"]
    names = [r.split()[0] for r in rows]
    for expected in ("faccessat2", "clone3", "openat2", "close_range", "statx", "uretprobe"):
        assert expected in names
    assert "never invoked" in rows[names.index("uretprobe")]


def test_probe_json_schema(no_filter: None) -> None:
    data = json.loads(cli("probe", "--format", "json", "faccessat2", "uretprobe",
                          check=True).stdout)
    assert set(data) == {"kernel", "arch", "seccomp_mode", "seccomp_filters", "no_new_privs",
                         "isolated", "syscalls"}
    assert (data["seccomp_mode"], data["seccomp_filters"], data["isolated"]) == (0, 0, False)
    row = data["syscalls"][0]
    assert row == {"name": "faccessat2", "number": 439, "since": "5.8", "status": "available",
                   "errno": None, "errno_name": None, "evidence": row["evidence"]}
    assert data["syscalls"][1]["name"] == "uretprobe"


def test_probe_under_run_is_isolated_and_sees_the_filter() -> None:
    done = cli("run", "--deny", "faccessat2", "--deny", "memfd_create", "--action", "kill",
               "--", *SECCOMPAT, "probe", "--format", "json", "memfd_create", "statx")
    # Python itself never calls memfd_create at start-up, so the KILL rule is safe.
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["isolated"] is True
    assert data["seccomp_mode"] == 2
    assert data["no_new_privs"] is True
    status = {r["name"]: (r["status"], r["errno"]) for r in data["syscalls"]}
    assert status == {"memfd_create": ("killed", None), "statx": ("available", None)}


def test_probe_eperm_filter_as_json() -> None:
    done = cli("run", "--deny", "faccessat2", "--", *SECCOMPAT, "probe", "--format", "json",
               "--in-process", "faccessat2")
    row = json.loads(done.stdout)["syscalls"][0]
    assert (row["status"], row["errno"], row["errno_name"]) == ("filtered", 1, "EPERM")


@pytest.mark.parametrize(("args", "message"), [
    (["probe", "faccesat2"], "did you mean 'faccessat2'"),
    (["run", "--deny", "clone4", "--", "true"], "unknown syscall 'clone4'"),
    (["run", "--deny-newer-than", "five", "--", "true"], "not a kernel version"),
    (["run", "--deny", "clone3"], "no command given"),
    (["run", "--errno", "EWHAT", "--", "true"], "unknown errno"),
    (["run", "--action", "kill", "--errno", "ENOSYS", "--", "true"], "--errno applies"),
    (["probe", "--format", "xml"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("seccompat: error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_python_os_access_is_wrong_under_an_old_eperm_profile() -> None:
    # glibc's faccessat tries faccessat2 (5.8) and falls back only on ENOSYS; CPython
    # turns the EPERM into False.  The same command is right without the filter and
    # with ENOSYS.
    assert cli("run", "--", PYTHON, "-c", ACCESS).stdout == "True\n"
    assert cli("run", "--deny-newer-than", "5.4", "--", PYTHON, "-c", ACCESS).stdout == "False\n"
    assert cli("run", "--deny-newer-than", "5.4", "--errno", "ENOSYS", "--",
               PYTHON, "-c", ACCESS).stdout == "True\n"


def test_thread_start_fails_when_clone3_gets_eperm() -> None:
    assert cli("run", "--", PYTHON, "-c", THREAD).stdout == "started\n"
    failed = cli("run", "--deny", "clone3", "--", PYTHON, "-c", THREAD).stdout
    assert failed.startswith("failed: can't start new thread")
    assert cli("run", "--deny", "clone3", "--errno", "ENOSYS", "--",
               PYTHON, "-c", THREAD).stdout == "started\n"


def test_exit_status_is_the_commands_own() -> None:
    assert cli("run", "--", PYTHON, "-c", "raise SystemExit(3)").returncode == 3
    assert cli("run", "--deny-newer-than", "5.4", "--", "/bin/true").returncode == 0


def test_signal_death_is_128_plus_n() -> None:
    assert cli("run", "--", PYTHON, "-c",
               "import os, signal; os.kill(os.getpid(), signal.SIGTERM)").returncode == 143
    killed = cli("run", "--deny", "getppid", "--action", "kill", "--", PYTHON, "-c",
                 "import os; os.getppid()")
    assert killed.returncode == 128 + signal.SIGSYS
    trapped = cli("run", "--deny", "getppid", "--action", "trap", "--", PYTHON, "-c",
                  "import os; os.getppid()")
    assert trapped.returncode == 128 + signal.SIGSYS


def test_log_action_denies_nothing() -> None:
    assert cli("run", "--deny", "getppid", "--action", "log", "--", PYTHON, "-c",
               "import os; print(os.getppid() > 0)").stdout == "True\n"


def test_not_found_and_cannot_execute(tmp_path: Path) -> None:
    missing = cli("run", "--", "no-such-command-here")
    assert missing.returncode == 127
    assert "command not found" in missing.stderr
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    not_exec = cli("run", "--", str(plain))
    assert not_exec.returncode == 126
    assert "cannot execute" in not_exec.stderr
    denied = cli("run", "--deny", "execve", "--", "/bin/true")
    assert denied.returncode == 126


def test_our_own_failure_is_125() -> None:
    # Under an outer filter that denies seccomp(2), prctl(2) too, run cannot install.
    done = cli("run", "--deny", "seccomp,prctl", "--", *SECCOMPAT, "run", "--deny", "clone3",
               "--", "/bin/true")
    assert done.returncode == 125, done.stderr
    assert "seccomp" in done.stderr or "prctl" in done.stderr


def test_verbose_describes_the_filter() -> None:
    done = cli("run", "-v", "--deny-newer-than", "5.4", "--", "/bin/true")
    assert done.returncode == 0
    assert "denying syscalls newer than Linux 5.4 with ERRNO(1)" in done.stderr
    assert "ABIs: x86_64, x86, x32" in done.stderr or os.uname().machine != "x86_64"


def test_help_and_version() -> None:
    assert "run a command under a seccomp filter" in cli("run", "--help").stdout
    assert "exit status:" in cli("run", "--help").stdout
    assert cli("--version").stdout.startswith("seccompat ")
    assert cli().returncode == 2


def test_console_script_matches_module() -> None:
    script = Path(sys.executable).parent / "seccompat"
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    done = subprocess.run([str(script), "probe", "--format", "json", "getrandom"],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["syscalls"][0]["name"] == "getrandom"


# --- bad input: files that are not profiles, filters too large, unreachable commands --

@pytest.mark.parametrize("command", [["explain"], ["lint"], ["fix", "-o", "/dev/null"],
                                     ["diff", "/dev/null"], ["run", "--profile"]])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-large"])
def test_profile_commands_refuse_what_is_not_a_profile_file(
        command: list[str], kind: str, tmp_path: Path) -> None:
    """/dev/zero never ends (MemoryError before), a FIFO blocks open and read: both are
    refused at once, as a file over the 16 MiB bound is, in one line with exit 2."""
    if kind == "dev-zero":
        path = "/dev/zero"
    elif kind == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    else:
        path = str(tmp_path / "big.json")
        with open(path, "wb") as f:
            f.truncate((16 << 20) + 1)
    if command[0] == "run":
        args = ["run", "--profile", path, "--", "/bin/true"]
    elif command[0] == "diff":
        args = ["diff", path, "/dev/null"]
    else:
        args = [command[0], path, *command[1:]]
    done = subprocess.run([*SECCOMPAT, *args], capture_output=True, text=True, timeout=20,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    expected = {"dev-zero": "a character device, not a regular file",
                "fifo": "a FIFO, not a regular file", "too-large": "larger than 16 MiB"}[kind]
    assert expected in done.stderr


def test_a_profile_beyond_the_kernels_limit_is_one_line(tmp_path: Path) -> None:
    # neighbouring values get different errnos: no range of one action to fold
    rules = [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5 + i % 2,
              "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}]} for i in range(1500)]
    profile = tmp_path / "huge.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))
    done = cli("run", "--profile", str(profile), "--", "/bin/true")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "over the kernel's limit of 4096" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_command_the_caller_may_not_reach_is_126(tmp_path: Path, root: None) -> None:
    source = Path(__file__).resolve().parents[2]
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    reach = subprocess.run([*as_nobody, *SECCOMPAT, "--version"], capture_output=True,
                           text=True, timeout=60, check=False, env=env)
    if reach.returncode != 0:
        pytest.skip(f"nobody cannot run this interpreter here: {reach.stderr.strip()}")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    program = private / "true"
    program.write_bytes(Path("/bin/true").read_bytes())
    program.chmod(0o755)
    tmp_path.chmod(0o755)
    done = subprocess.run([*as_nobody, *SECCOMPAT, "run", "--", str(program)],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 126, done.stderr
    assert "Permission denied" in done.stderr
    assert cli("run", "--", str(tmp_path / "missing")).returncode == 127


def test_no_arguments_is_one_usage_line() -> None:
    done = cli()
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("usage: seccompat")


def test_a_filter_that_would_deny_execve_itself_is_a_usage_error() -> None:
    done = cli("run", "--deny-newer-than", "2.6.32", "--", "/bin/true")
    assert done.returncode == 2  # was 139, with no message: execve itself was denied
    assert len(done.stderr.splitlines()) == 1
    assert "predates the syscall table" in done.stderr
    assert "execve" in done.stderr
    asked = cli("run", "--deny-newer-than", "2.6", "--deny", "execve,exit,exit_group,rt_sigreturn",
                "--", "/bin/true")
    assert asked.returncode not in (0, 2)  # asked for by name: installed, and nothing runs


def test_verbose_echoes_the_version_used() -> None:
    done = cli("run", "-v", "--deny-newer-than", "5.4.0-45-generic", "--", "/bin/true")
    assert "newer than Linux 5.4 " in done.stderr


def test_every_option_has_a_help_line() -> None:
    import argparse

    from seccompat.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.option_strings or a.dest}" for name, sub in commands.choices.items()
               for a in sub._actions if not a.help or a.help == argparse.SUPPRESS]
    assert missing == []
    assert all("-q" in sub._option_string_actions for sub in commands.choices.values())


def test_probe_takes_numbers_and_suggests_across_case() -> None:
    assert cli("probe", "439").stdout.splitlines()[-1].startswith("faccessat2")
    wrong = cli("probe", "FACCESSAT2")
    assert wrong.returncode == 2
    assert "did you mean 'faccessat2'?" in wrong.stderr


def test_the_x32_stub_bound_prints_alike_in_run_and_explain() -> None:
    from ..kernel import PROFILES

    profile = str(PROFILES / "moby-default-v20.10.0.json")
    runtime = "docker:20.10.0+runc:1.0.0-rc93"
    run = cli("run", "-v", "--profile", profile, "--runtime", runtime, "--", "/bin/true")
    explained = cli("explain", profile, "--runtime", runtime, "clone3")
    assert "x32 above 0x40000000|547" in run.stderr
    assert "ENOSYS stub on x32: numbers above 0x40000000|547" in explained.stdout


def test_the_docker_format_warning_is_shown_once_and_never_with_quiet(tmp_path: Path) -> None:
    from ..kernel import PROFILES

    env = {**os.environ, "SECCOMPAT_CACHE_DIR": str(tmp_path / "cache")}
    profile = str(PROFILES / "moby-default-v20.10.0.json")
    runs = [subprocess.run([*SECCOMPAT, "run", "--profile", profile, "--", "/bin/true"],
                           capture_output=True, text=True, env=env, check=True).stderr
            for _ in range(3)]
    assert [r.count("goes through an engine") for r in runs] == [1, 0, 0]
    quiet = subprocess.run([*SECCOMPAT, "run", "-q", "--profile", profile, "--runtime",
                            "runc:1.1.5", "--", "/bin/true"], capture_output=True, text=True,
                           env=env, check=True)
    assert quiet.stderr == ""
