"""The ENOSYS shim against real filters: ours, and an independent one from libseccomp."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from seccompat import _proc as proc
from seccompat._json import JsonObject
from seccompat.bpf import RET, Action, SeccompData, compile_filter, install, run
from seccompat.policy import container_filter
from seccompat.shim import ShimError, plan, shim_filter
from seccompat.shim import install as install_shim
from seccompat.syscalls import native_arch, syscalls

from ..cli.test_cli import SECCOMPAT
from ..kernel import PYTHON, in_child

pytestmark = pytest.mark.skipif(native_arch().name != "x86_64", reason="x86_64 numbers")

# What breaks: glibc's faccessat (faccessat2), threads and posix_spawn (clone3).
SCRIPT = textwrap.dedent("""\
    import os, threading
    print("access", os.access("/", os.R_OK, effective_ids=True))
    try:
        t = threading.Thread(target=lambda: None); t.start(); t.join(); print("thread ok")
    except RuntimeError as e:
        print("thread", e)
    try:
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
        print("spawn", os.waitpid(pid, 0)[1])
    except OSError as e:
        print("spawn", e.strerror)
""")
BROKEN = "access False\nthread can't start new thread\nspawn Operation not permitted\n"
FIXED = "access True\nthread ok\nspawn 0\n"

# An independent outer filter: libseccomp (through pyseccomp), EPERM for clone3 and
# faccessat2, everything else allowed.
LIBSECCOMP_THEN_EXEC = textwrap.dedent("""\
    import os, sys
    import pyseccomp as s
    f = s.SyscallFilter(s.ALLOW)
    for name in ("clone3", "faccessat2", "mount"):
        f.add_rule(s.ERRNO(1), name)
    f.load()
    os.execv(sys.argv[1], sys.argv[1:])
""")


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)


def test_deny_newer_than_5_2_breaks_python_and_the_shim_fixes_it() -> None:
    outer = [*SECCOMPAT, "run", "--deny-newer-than", "5.2", "--"]
    assert sh(*outer, PYTHON, "-c", SCRIPT).stdout == BROKEN
    fixed = sh(*outer, *SECCOMPAT, "shim", "--", PYTHON, "-c", SCRIPT)
    assert fixed.stdout == FIXED, fixed.stderr


def test_an_independent_libseccomp_filter_is_fixed_too() -> None:
    pytest.importorskip("pyseccomp")
    outer = [sys.executable, "-c", LIBSECCOMP_THEN_EXEC]
    assert sh(*outer, PYTHON, "-c", SCRIPT).stdout == BROKEN
    fixed = sh(*outer, sys.executable, "-m", "seccompat", "shim", "--", PYTHON, "-c", SCRIPT)
    assert fixed.stdout == FIXED, fixed.stderr


def test_calls_denied_on_purpose_keep_their_errno() -> None:
    pytest.importorskip("pyseccomp")
    code = "import ctypes; l = ctypes.CDLL(None, use_errno=True); l.mount(None, None, None, " \
           "0, None); print(ctypes.get_errno())"
    outer = [sys.executable, "-c", LIBSECCOMP_THEN_EXEC]
    done = sh(*outer, sys.executable, "-m", "seccompat", "shim", "--", PYTHON, "-c", code)
    assert done.stdout == f"{errno.EPERM}\n", done.stderr
    dry = json.loads(sh(*outer, sys.executable, "-m", "seccompat", "shim", "--dry-run",
                        "--format", "json").stdout)
    assert {e["name"] for e in dry["rewrite"]} == {"clone3", "faccessat2"}
    kept = {e["name"]: e for e in dry["keep"]}
    assert (kept["mount"]["errno"], kept["mount"]["errno_name"]) == (errno.EPERM, "EPERM")
    assert "denied on purpose" in kept["mount"]["reason"]


def test_plan_policy_under_a_5_2_profile() -> None:
    def body() -> JsonObject:
        return plan().to_json()

    data = in_child(body, filter=container_filter(newer_than=(5, 2))).get()
    rewrite = {e["name"]: e for e in data["rewrite"]}
    keep = {e["name"]: e for e in data["keep"]}
    assert data["highest_allowed"]["number"] == max(
        sc.number for sc in syscalls() if sc.since <= (5, 2) and sc.name not in
        ("uretprobe", "uprobe"))
    for name in ("clone3", "faccessat2", "close_range", "openat2", "fchmodat2"):
        assert rewrite[name]["errno_name"] == "EPERM"
        assert "runc ENOSYS-stub rule" in rewrite[name]["reason"]
    assert "listns" not in rewrite  # this kernel predates it
    assert data["problems"] == []
    assert set(rewrite) & set(keep) == set()


def test_fallback_list_rewrites_calls_below_the_highest_allowed() -> None:
    # clone3 (435) under a profile that allows up to faccessat2 (439): runc's rule
    # misses it (Docker 20.10.0's bug); the fallback list catches it.
    flt = container_filter(newer_than=(5, 8), deny=["clone3", "close_range", "mount"])

    def body() -> dict[str, str]:
        return {e.name: e.reason for e in plan().rewrite}

    rewrite = in_child(body, filter=flt).get()
    assert "glibc >= 2.34" in rewrite["clone3"]
    assert "closefrom" in rewrite["close_range"]
    assert "mount" not in rewrite


def test_all_filtered_and_only() -> None:
    flt = container_filter(deny=["clone3", "mount", "swapon"])

    def body() -> tuple[set[str], set[str]]:
        return ({e.name for e in plan(all_filtered=True).rewrite},
                {e.name for e in plan(only=["swapon"]).rewrite})

    everything, only = in_child(body, filter=flt).get()
    assert everything == {"clone3", "mount", "swapon"}
    assert only == {"swapon"}
    with pytest.raises(LookupError, match="did you mean"):
        plan(only=["swapn"])


def test_kill_rules_are_never_probed_in_the_caller() -> None:
    flt = container_filter(newer_than=(5, 2), deny=["futex_waitv"])
    # KILL for futex_waitv and getrandom on top: the plan runs in children.
    from seccompat.bpf import Filter

    killer = Filter.simple(Action.allow(), {"futex_waitv": Action.kill_process(),
                                            "getrandom": Action.kill_process()})

    def body() -> tuple[bool, str]:
        install(compile_filter(killer))
        shim = plan()
        kept = {e.name: e.reason for e in shim.keep}
        return "futex_waitv" in {e.name for e in shim.rewrite}, kept["futex_waitv"]

    import random  # noqa: F401 - its at-fork reseed would call getrandom

    rewritten, reason = in_child(body, filter=flt).get()
    assert not rewritten
    assert "killed by a filter" in reason


def test_second_install_is_a_no_op() -> None:
    def body() -> tuple[bool, bool, int | None, int | None]:
        first = install_shim()
        filters = proc.process_state().seccomp_filters
        second = install_shim()
        return first.installed, second.installed, filters, proc.process_state().seccomp_filters

    first, second, before, after = in_child(body, filter=container_filter(
        newer_than=(5, 2))).get()
    assert (first, second) == (True, False)
    assert before == after


def _install_shim_message() -> str:
    """Install the shim here: "" when it went in, else the ShimError's message."""
    try:
        install_shim()
    except ShimError as exc:
        return str(exc)
    return ""


def test_a_filter_that_forbids_seccomp_fails_cleanly(root: None) -> None:
    def body() -> tuple[str, bool, int | None, bool, int | None]:
        # Installed as root without no_new_privs, so we can see it stay unset.
        outer = compile_filter(container_filter(deny=["seccomp", "faccessat2"]))
        install(outer, no_new_privs=False)
        before = proc.process_state()
        message = _install_shim_message()
        after = proc.process_state()
        return (message, before.no_new_privs, before.seccomp_filters, after.no_new_privs,
                after.seccomp_filters)

    message, nnp_before, filters_before, nnp_after, filters_after = in_child(body).get()
    assert "the filters refuse another filter (Operation not permitted)" in message
    assert (nnp_before, filters_before) == (nnp_after, filters_after)
    done = sh(*SECCOMPAT, "run", "--deny", "seccomp,faccessat2", "--", *SECCOMPAT, "shim", "--",
              "/bin/true")
    assert done.returncode == 125
    assert "the shim cannot be installed" in done.stderr


def test_the_shim_never_changes_an_allowed_call() -> None:
    flt = container_filter(newer_than=(5, 2))
    outer = compile_filter(flt)

    def body() -> JsonObject:
        return plan().to_json()

    shim_data = in_child(body, filter=flt).get()
    from seccompat.shim import ShimEntry, ShimPlan

    shim = ShimPlan(shim_data["arch"], True, None,
                    tuple(ShimEntry(e["name"], e["number"], 1, e["reason"])
                          for e in shim_data["rewrite"]),
                    compat={k: tuple(v) for k, v in shim_data["compat"].items()})
    ours = compile_filter(shim_filter(shim))
    audit = native_arch().audit_arch
    for nr in range(1024):
        outer_says = run(outer, SeccompData(nr, audit))
        ours_says = run(ours, SeccompData(nr, audit))
        if ours_says != RET.ALLOW:
            assert ours_says == RET.ERRNO | errno.ENOSYS
            assert outer_says & RET.ACTION_FULL == RET.ERRNO, nr  # already failing
        if outer_says == RET.ALLOW:
            assert ours_says == RET.ALLOW, nr


def test_without_a_filter_there_is_nothing_to_do(no_filter: None) -> None:
    shim = plan()
    assert (shim.filter_active, shim.rewrite) == (False, ())
    assert install_shim().installed is False
    assert sh(*SECCOMPAT, "shim", "--dry-run").stdout.startswith("no seccomp filter is active")


def test_python_dash_m_entry_and_env_var() -> None:
    outer = [*SECCOMPAT, "run", "--deny-newer-than", "5.2", "--"]
    done = sh(*outer, sys.executable, "-m", "seccompat.shim", "-c", SCRIPT)
    assert done.stdout == FIXED, done.stderr
    site = ("import seccompat.shim, runpy, sys; seccompat.shim.install_from_env(); "
            "exec(sys.argv[1])")
    env_on = subprocess.run([*outer, sys.executable, "-c", site, SCRIPT], capture_output=True,
                            text=True, env={**os.environ, "SECCOMPAT_SHIM": "1"}, check=False)
    assert env_on.stdout == FIXED, env_on.stderr
    env_off = subprocess.run([*outer, sys.executable, "-c", site, SCRIPT], capture_output=True,
                             text=True, env={**os.environ, "SECCOMPAT_SHIM": ""}, check=False)
    assert env_off.stdout == BROKEN


def test_shim_cli_usage_errors() -> None:
    for args, message in ((["shim"], "no command given"),
                          (["shim", "--only", "clone4", "--", "true"], "unknown syscall"),
                          (["shim", "--all-filtered", "--only", "x", "--", "true"],
                           "not allowed with")):
        done = sh(*SECCOMPAT, *args)
        assert done.returncode == 2
        assert message in done.stderr


def test_the_i386_abi_gets_the_same_calls() -> None:
    from seccompat.syscalls import lookup

    def body() -> JsonObject:
        return plan().to_json()

    data = in_child(body, filter=container_filter(deny=["clone3", "faccessat2", "statx"])).get()
    names = {e["name"] for e in data["rewrite"]}
    assert names == {"clone3", "faccessat2", "statx"}
    i386 = {lookup(n, "x86").number for n in names}
    assert set(data["compat"]["x86"]) == i386
    assert "x32" not in data["compat"]
    from seccompat.shim import ShimEntry, ShimPlan

    shim = ShimPlan("x86_64", True, None,
                    tuple(ShimEntry(e["name"], e["number"], 1, "") for e in data["rewrite"]),
                    compat={"x86": tuple(data["compat"]["x86"])})
    program = compile_filter(shim_filter(shim))
    for nr in range(512):
        want = RET.ERRNO | errno.ENOSYS if nr in i386 else RET.ALLOW
        assert run(program, SeccompData(nr, 0x40000003)) == want, nr
    # x32 and unknown ABIs are left to the outer filter.
    assert run(program, SeccompData(0x40000000 | 435, native_arch().audit_arch)) == RET.ALLOW
    assert run(program, SeccompData(435, 0xC00000B7)) == RET.ALLOW


# --- unusual outer filters ---------------------------------------------------------

def _under_a_conditional_rule() -> tuple[list[str], int, int]:
    from seccompat.bpf import ArgCmp, Filter, Op, Rule
    from seccompat.raw import syscall
    from seccompat.syscalls import lookup

    # EPERM for faccessat2 only when flags != 0: flags 0 is allowed and must stay so.
    rule = Rule(Action.errno(errno.EPERM), (ArgCmp(3, Op.NE, 0),))
    install(compile_filter(Filter.simple(Action.allow(), {"faccessat2": [rule]})))
    shim = plan(all_filtered=True)
    install_shim(shim)
    nr = lookup("faccessat2").number
    return ([e.name for e in shim.rewrite], syscall(nr, -100, b"/", os.R_OK, 0)[1],
            syscall(nr, -100, b"/", os.R_OK, 0x200)[1])


def test_an_argument_conditional_outer_rule_is_left_alone() -> None:
    rewritten, allowed, denied = in_child(_under_a_conditional_rule).get()
    assert "faccessat2" not in rewritten
    assert allowed == 0  # the allowed call did not become ENOSYS
    assert denied == errno.EPERM


def _under_a_supervisor(answer: str) -> tuple[str, int, float]:
    import time

    from seccompat.bpf import FLAG_NEW_LISTENER, Filter

    from ..kernel import Supervisor

    flt = Filter.simple(Action.allow(), {name: Action.user_notif()
                                        for name in ("getppid", "faccessat2", "clone3")})
    supervisor = Supervisor(answer)
    supervisor.serve(install(compile_filter(flt), flags=FLAG_NEW_LISTENER))
    start = time.monotonic()
    message = _install_shim_message()
    return message, supervisor.seen, time.monotonic() - start


@pytest.mark.parametrize("answer", ["never", "continue"])
def test_an_outer_seccomp_supervisor_is_refused_at_once(answer: str) -> None:
    """The oracle cannot see through a USER_NOTIF filter (it ranks above TRACE): it
    must neither hang on a supervisor that never answers nor let one run its calls."""
    if os.uname().release < "5":
        pytest.skip("SECCOMP_RET_USER_NOTIF needs Linux 5.0")
    message, seen, took = in_child(_under_a_supervisor, answer, timeout=60).get()
    assert "seccomp supervisor (USER_NOTIF)" in message
    assert seen == 0
    assert took < 5


# --- without ptrace ---------------------------------------------------------------

#: containers-common's 2020 default denies ptrace (and clone3): the oracle cannot
#: trace its child there (its TRACE rule without a tracer still answers every
#: errno), and threads fail without the shim.
NO_PTRACE = [*SECCOMPAT, "run", "--profile",
             os.path.join(os.path.dirname(__file__), "..", "data", "profiles",
                          "containers-common-seccomp-2020-08-27.json"),
             "--runtime", "podman:2.1.0+crun:0.15", "--"]


def test_where_ptrace_is_denied_the_shim_plans_and_works() -> None:
    assert sh(*NO_PTRACE, PYTHON, "-c", SCRIPT).stdout == BROKEN
    fixed = sh(*NO_PTRACE, *SECCOMPAT, "shim", "--", PYTHON, "-c", SCRIPT)
    assert (fixed.returncode, fixed.stdout) == (0, FIXED), fixed.stderr
    only = sh(*NO_PTRACE, *SECCOMPAT, "shim", "--only", "clone3", "--", PYTHON, "-c",
              "import threading; t = threading.Thread(); t.start(); t.join(); print('ok')")
    assert (only.returncode, only.stdout) == (0, "ok\n"), only.stderr


def test_the_plan_without_ptrace_names_what_answered_and_keeps_deliberate_denials() -> None:
    dry = sh(*NO_PTRACE, *SECCOMPAT, "shim", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    got = json.loads(dry.stdout)
    assert (got["oracle"], got["highest_allowed"]) == ("trace-rule", None)
    rewrite = {e["name"]: e for e in got["rewrite"]}
    assert {"clone3", "faccessat2", "close_range", "openat2"} <= set(rewrite)
    assert {e["oracle"] for e in got["rewrite"]} == {"trace-rule"}
    assert all(e["errno_name"] == "EPERM" for e in rewrite.values())
    kept = {e["name"] for e in got["keep"]}
    assert {"ptrace", "bpf", "perf_event_open"} & kept, kept  # denied on purpose
    assert "kcmp" in kept
    code = ("import ctypes; l = ctypes.CDLL(None, use_errno=True); "
            "l.syscall(312, 0, 0, 0, 0, 0); print(ctypes.get_errno())")  # kcmp: denied
    done = sh(*NO_PTRACE, *SECCOMPAT, "shim", "--", PYTHON, "-c", code)
    assert done.stdout == f"{errno.EPERM}\n", done.stderr


def test_only_needs_evidence_unless_trusted() -> None:
    """A call nothing can ask about (an ENOSYS answer, with ptrace denied: allowed, or
    a filter's ENOSYS) stays out of --only's rewrite, unless --trust."""
    name = "getcpu"  # allowed by the profile: ENOSYS to the untraced oracle
    dry = json.loads(sh(*NO_PTRACE, *SECCOMPAT, "shim", "--dry-run", "--format", "json",
                        "--only", name).stdout)
    assert name not in {e["name"] for e in dry["rewrite"]}
    trusted = json.loads(sh(*NO_PTRACE, *SECCOMPAT, "shim", "--dry-run", "--format", "json",
                            "--only", name, "--trust").stdout)
    (entry,) = [e for e in trusted["rewrite"] if e["name"] == name]
    assert entry["oracle"] == "trust"
    assert "--trust" in entry["reason"]
    usage = sh(*SECCOMPAT, "shim", "--trust", "--dry-run")
    assert usage.returncode == 2


def test_dry_run_exits_125_where_the_shim_cannot_be_installed() -> None:
    done = sh(*SECCOMPAT, "run", "--deny", "seccomp,prctl,faccessat2", "--", *SECCOMPAT, "shim",
              "--dry-run", "--format", "json")
    assert done.returncode == 125
    assert "the shim cannot be installed" in done.stderr
    assert json.loads(done.stdout)["problems"]


def test_every_install_goes_through_prepare() -> None:
    """prepare() refuses a plan with problems before anything is installed, and the
    library's install() is prepare() and then ShimProgram.install()."""
    from seccompat.shim import ShimPlan, prepare

    with pytest.raises(ShimError, match="refused here"):
        prepare(ShimPlan("x86_64", True, None, problems=("refused here",)))
    assert prepare(ShimPlan("x86_64", True, None)) is None

    def body() -> tuple[tuple[str, ...], str]:
        install(compile_filter(container_filter(deny=["faccessat2"])))
        ready = prepare(plan())
        assert ready is not None
        ready.install()
        return ready.rewritten, _install_shim_message()

    rewritten, second = in_child(body).get()
    assert rewritten == ("faccessat2",)
    assert second == ""  # nothing left to rewrite: a no-op
