"""The classifier against real filters, real gates and a real genuine EPERM."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from pathlib import Path

import pytest

from seccompat import Status, classify, classify_isolated, eperm_is_filtered
from seccompat._classifier import cached, clear_cache
from seccompat._probes import PROBES
from seccompat.bpf import Action, ArgCmp, Filter, Op, Rule
from seccompat.raw import syscall
from seccompat.syscalls import kernel_version, lookup

from .kernel import immutable_file, in_child, sysctl
from .test_probes import _MAY_BE_DISABLED, NATIVE

AT_FDCWD, AT_EACCESS, W_OK = -100, 0x200, 2


def _all_blocked(action: Action, isolate: bool) -> dict[str, tuple[str, int | None, str]]:
    def body() -> dict[str, tuple[str, int | None, str]]:
        verdicts = classify_isolated(NATIVE) if isolate else [classify(n) for n in NATIVE]
        return {v.name: (v.status.value, v.errno, v.evidence) for v in verdicts}

    return in_child(body, rules=dict.fromkeys(NATIVE, action)).get()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def unfiltered() -> dict[str, tuple[str, int | None, str]]:
    result: dict[str, tuple[str, int | None, str]] = in_child(
        lambda: {v.name: (v.status.value, v.errno, v.evidence)
                 for v in (classify(n) for n in NATIVE)}).get()
    return result


@pytest.fixture(scope="module")
def under_eperm() -> dict[str, tuple[str, int | None, str]]:
    return _all_blocked(Action.errno(errno.EPERM), isolate=False)


@pytest.fixture(scope="module")
def under_enosys() -> dict[str, tuple[str, int | None, str]]:
    return _all_blocked(Action.errno(errno.ENOSYS), isolate=False)


@pytest.fixture(scope="module")
def under_eacces() -> dict[str, tuple[str, int | None, str]]:
    return _all_blocked(Action.errno(errno.EACCES), isolate=False)


@pytest.fixture(scope="module")
def under_kill() -> dict[str, tuple[str, int | None, str]]:
    return _all_blocked(Action.kill_process(), isolate=True)


@pytest.fixture(scope="module")
def under_trap() -> dict[str, tuple[str, int | None, str]]:
    return _all_blocked(Action.trap(), isolate=True)


def _implemented(name: str, unfiltered: dict[str, tuple[str, int | None, str]]) -> None:
    status = unfiltered[name][0]
    if status == "not_implemented":
        reason = unfiltered[name][2]
        if kernel_version() < lookup(name).since or name in _MAY_BE_DISABLED:
            pytest.skip(f"{name}: {reason}")


@pytest.mark.parametrize("name", NATIVE)
def test_no_filter(name: str, unfiltered: dict[str, tuple[str, int | None, str]],
                   no_filter: None) -> None:
    status, err, evidence = unfiltered[name]
    if kernel_version() < lookup(name).since:
        assert (status, err) == ("not_implemented", errno.ENOSYS)
        assert "predates" in evidence
    elif status == "gated":
        assert PROBES[name].closed_gate(), evidence
    elif status == "not_implemented":
        assert name in _MAY_BE_DISABLED, evidence
    else:
        assert status == "available", evidence


@pytest.mark.parametrize("name", NATIVE)
def test_eperm_filter_gives_filtered(name: str, unfiltered: dict[str, tuple[str, int | None, str]],
                                     under_eperm: dict[str, tuple[str, int | None, str]]) -> None:
    _implemented(name, unfiltered)
    status, err, _ = under_eperm[name]
    expected = "gated" if PROBES[name].closed_gate() else "filtered"
    assert (status, err) == (expected, errno.EPERM)


@pytest.mark.parametrize("name", NATIVE)
def test_enosys_filter_gives_not_implemented(
        name: str, unfiltered: dict[str, tuple[str, int | None, str]],
        under_enosys: dict[str, tuple[str, int | None, str]]) -> None:
    _implemented(name, unfiltered)
    status, err, evidence = under_enosys[name]
    assert (status, err) == ("not_implemented", errno.ENOSYS)
    if kernel_version() >= lookup(name).since:
        assert "a filter is active" in evidence


@pytest.mark.parametrize("name", NATIVE)
def test_eacces_filter_gives_filtered_eacces(
        name: str, unfiltered: dict[str, tuple[str, int | None, str]],
        under_eacces: dict[str, tuple[str, int | None, str]]) -> None:
    _implemented(name, unfiltered)
    assert under_eacces[name][:2] == ("filtered", errno.EACCES)


@pytest.mark.parametrize("name", NATIVE)
def test_kill_gives_killed_in_isolation(name: str,
                                        under_kill: dict[str, tuple[str, int | None, str]]) -> None:
    # The child that ran classify_isolated survived every KILL: its result came back.
    assert under_kill[name][0] == "killed"


@pytest.mark.parametrize("name", NATIVE)
def test_trap_gives_trapped_in_isolation(
        name: str, under_trap: dict[str, tuple[str, int | None, str]]) -> None:
    assert under_trap[name][0] == "trapped"


def test_kill_thread_is_killed_too() -> None:
    verdict = in_child(lambda: classify("memfd_create", isolate=True),
                       rules={"memfd_create": Action.kill_thread()}).get()
    assert verdict.status is Status.KILLED


def test_killed_verdict_is_cached_so_in_process_classify_is_safe() -> None:
    def body() -> tuple[str, str]:
        first = classify("memfd_create", isolate=True)
        second = classify("memfd_create")  # in-process: would die without the cache
        return first.status.value, second.status.value

    assert in_child(body, rules={"memfd_create": Action.kill_process()}).get() == \
        ("killed", "killed")


def test_unknown_and_foreign_names() -> None:
    with pytest.raises(LookupError, match="did you mean"):
        classify("memfd_creat")
    v = classify("breakpoint")  # an ARM-only call
    assert v.status is Status.NOT_IMPLEMENTED
    assert "not part of" in v.evidence
    v = classify("uretprobe")
    assert v.status in (Status.UNKNOWN, Status.NOT_IMPLEMENTED)
    assert "never invoked" in v.evidence


# --- eperm_is_filtered and genuine EPERM ----------------------------------------

def _faccessat2_w_ok(path: str) -> tuple[int, tuple[int, ...]]:
    buf = ctypes.create_string_buffer(os.fsencode(path))
    args = (AT_FDCWD, ctypes.addressof(buf), W_OK, AT_EACCESS)
    _, err = syscall(lookup("faccessat2").number, *args)
    return err, args


def _decide(path: str) -> tuple[int, bool]:
    err, args = _faccessat2_w_ok(path)
    return err, eperm_is_filtered("faccessat2", args)


def test_genuine_eperm_without_a_filter(tmp_path: Path, no_filter: None) -> None:
    with immutable_file(tmp_path) as path:
        assert in_child(_decide, str(path)).get() == (errno.EPERM, False)


def test_genuine_eperm_with_a_filter_active_for_other_calls(tmp_path: Path) -> None:
    with immutable_file(tmp_path) as path:
        result = in_child(_decide, str(path), rules={"memfd_create": Action.errno(1)}).get()
    assert result == (errno.EPERM, False)


def test_filtered_eperm_is_filtered(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("x")
    result = in_child(_decide, str(path), rules={"faccessat2": Action.errno(1)}).get()
    assert result == (errno.EPERM, True)


def test_probe_keeps_the_real_flags(tmp_path: Path) -> None:
    # A rule that blocks faccessat2 only with AT_EACCESS: the transparent probe sees
    # the same flags, so both answers are right.
    rule = Rule(Action.errno(1), (ArgCmp(3, Op.MASKED_EQ, AT_EACCESS, AT_EACCESS),))
    flt = Filter.simple(Action.allow(), {"faccessat2": [rule]})

    def body() -> tuple[bool, bool]:
        return (eperm_is_filtered("faccessat2", (AT_FDCWD, 1, W_OK, AT_EACCESS)),
                eperm_is_filtered("faccessat2", (AT_FDCWD, 1, W_OK, 0)))

    assert in_child(body, filter=flt).get() == (True, False)


def test_no_filter_means_never_filtered(no_filter: None) -> None:
    assert eperm_is_filtered("faccessat2") is False
    assert eperm_is_filtered("clone3") is False


def test_enosys_after_eperm_falls_back() -> None:
    assert in_child(eperm_is_filtered, "clone3", rules={"clone3": Action.errno(38)}).get()


def test_other_errno_from_the_probe_is_not_a_fallback_signal() -> None:
    assert in_child(eperm_is_filtered, "statx",
                    rules={"statx": Action.errno(errno.EACCES)}).get() is False


def test_eperm_decision_rejects_unprobeable_and_unknown() -> None:
    with pytest.raises(ValueError, match="no side-effect-free probe"):
        eperm_is_filtered("uretprobe")
    with pytest.raises(LookupError):
        eperm_is_filtered("nosuchcall")


# --- gates ---------------------------------------------------------------------

def test_io_uring_disabled_is_gated_not_filtered(root: None) -> None:
    with sysctl("kernel.io_uring_disabled", "2"):
        plain = in_child(classify, "io_uring_setup").get()
        filtered = in_child(classify, "io_uring_setup",
                            rules={"memfd_create": Action.errno(1)}).get()
        decision = in_child(eperm_is_filtered, "io_uring_setup",
                            rules={"memfd_create": Action.errno(1)}).get()
    for verdict in (plain, filtered):
        assert (verdict.status, verdict.errno) == (Status.GATED, errno.EPERM)
        assert "io_uring_disabled=2" in verdict.evidence
    assert decision is False


def _as_nobody(name: str) -> tuple[str, str]:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    v = classify(name)
    return v.status.value, v.evidence


@pytest.mark.parametrize("name", ["fsopen", "fsmount", "fspick", "move_mount"])
def test_capability_gate_for_the_mount_api(name: str, root: None) -> None:
    status, evidence = in_child(_as_nobody, name).get()
    assert status == "gated", evidence
    assert "CAP_SYS_ADMIN" in evidence


def _in_a_new_user_namespace(names: list[str]) -> list[tuple[str, str, bool]]:
    """unshare(CLONE_NEWUSER) alone, as rootless container engines do: every capability
    is effective, but only in the new user namespace.  The mount API checks
    CAP_SYS_ADMIN in the mount namespace's owner (still the initial one), io_uring's
    sysctl gate in the initial namespace: genuine EPERMs, never a filter's."""
    from seccompat.calls import call

    if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
    out = []
    for name in names:
        verdict = classify(name)
        try:
            ran = call(name, *PROBES[name].args, fallback=lambda: "fallback") == "fallback"
        except OSError:
            ran = False
        out.append((verdict.status.value, verdict.evidence, ran))
    return out


@pytest.mark.parametrize("names", [["fsopen", "fspick", "move_mount", "fsmount"]])
def test_capability_gates_are_checked_in_the_right_user_namespace(
        names: list[str], root: None) -> None:
    got = in_child(_in_a_new_user_namespace, names, rules={"getppid": Action.errno(1)}).get()
    for name, (status, evidence, ran) in zip(names, got, strict=True):
        assert (status, ran) == ("gated", False), (name, evidence)
        assert "mount namespace" in evidence, evidence


def test_io_uring_sysctl_gate_is_checked_in_the_initial_user_namespace(root: None) -> None:
    with sysctl("kernel.io_uring_disabled", "1"):
        got = in_child(_in_a_new_user_namespace, ["io_uring_setup"],
                       rules={"getppid": Action.errno(1)}).get()
    status, evidence, ran = got[0]
    assert (status, ran) == ("gated", False), evidence
    assert "initial user namespace" in evidence, evidence


def test_landlock_restrict_self_gate(root: None) -> None:
    if lookup("landlock_restrict_self").since > kernel_version():
        pytest.skip("no landlock on this kernel")
    status, evidence = in_child(_as_nobody, "landlock_restrict_self").get()
    assert status == "gated", evidence


# --- the cache -----------------------------------------------------------------

def test_only_monotonic_verdicts_are_cached() -> None:
    def body() -> tuple[bool, bool]:
        classify("memfd_create")
        classify("getrandom")
        return (cached("memfd_create", PROBES["memfd_create"].args) is not None,
                cached("getrandom", PROBES["getrandom"].args) is not None)

    assert in_child(body, rules={"memfd_create": Action.errno(1)}).get() == (True, False)


def test_cache_is_per_thread_and_survives_fork() -> None:
    def body() -> tuple[bool, bool]:
        classify("memfd_create")
        seen: list[bool] = []
        t = threading.Thread(target=lambda: seen.append(
            cached("memfd_create", PROBES["memfd_create"].args) is not None))
        t.start()
        t.join()
        forked = in_child(lambda: cached("memfd_create", PROBES["memfd_create"].args)
                          is not None).get()
        return seen[0], forked

    # A new thread starts empty (it re-probes); a forked child keeps the verdicts
    # of the thread that forked it, whose filters it inherited.
    assert in_child(body, rules={"memfd_create": Action.errno(1)}).get() == (False, True)


def test_clear_cache() -> None:
    def body() -> bool:
        classify("memfd_create")
        clear_cache()
        return cached("memfd_create", PROBES["memfd_create"].args) is None

    assert in_child(body, rules={"memfd_create": Action.errno(1)}).get()


def test_isolation_survives_a_kill_rule_on_getrandom_with_random_imported() -> None:
    # random reseeds with getrandom in os.fork()'s at-fork hook; the probe child
    # must not run it, or it would die before probing.
    import random  # noqa: F401 - the point of the test

    def body() -> list[str]:
        return [v.status.value for v in classify_isolated(["getrandom", "memfd_create"])]

    assert in_child(body, rules={"getrandom": Action.kill_process()}).get() == \
        ["killed", "available"]


def test_isolation_from_another_thread() -> None:
    def body() -> list[str]:
        out: list[str] = []
        t = threading.Thread(target=lambda: out.extend(
            v.status.value for v in classify_isolated(["memfd_create", "statx", "getppid"])))
        t.start()
        t.join()
        return out

    result = in_child(body, rules={"memfd_create": Action.kill_process(),
                                   "statx": Action.trap()}).get()
    assert result == ["killed", "trapped", "unknown"]  # getppid: no probe


# --- isolation in threaded programs, and calls held by a supervisor ---------------

_THREADED = """
import sys, threading
import seccompat
sys.setswitchinterval(1e-4)  # many GIL hand-overs: the old child deadlocked 3 runs in 3
stop = False
def spin():
    while not stop:
        pass
threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
try:
    for _ in range(50):
        assert seccompat.classify("clone3", isolate=True).status.value == "available"
finally:
    stop = True
    for t in threads:
        t.join()
print("done")
"""


@pytest.mark.parametrize("pure", ["", "1"], ids=["c", "pure-python"])
def test_isolated_probes_in_a_threaded_program_never_hang(pure: str) -> None:
    """After fork(2) in a threaded process the child must not re-enter the
    interpreter: with spinning threads holding and requesting the GIL, it used to
    deadlock about half the time."""
    import subprocess
    import sys

    from .kernel import ROOT

    env = {**os.environ, "SECCOMPAT_PURE_PYTHON": pure, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-m", "seccompat", "run", "--deny", "faccessat2", "--",
             sys.executable, "-c", _THREADED], env=env, capture_output=True, text=True,
            timeout=60, check=False)
        assert (done.returncode, done.stdout.strip()) == (0, "done"), done.stderr


def _held_by_a_supervisor() -> tuple[str, str, str, str]:
    """An outer filter hands memfd_create to a supervisor (USER_NOTIF) that never
    answers: the probe child ends at its deadline; the oracle refuses to look."""
    from seccompat import _forking as forking
    from seccompat._oracle import filter_oracle
    from seccompat.bpf import FLAG_NEW_LISTENER, compile_filter, install

    flt = Filter.simple(Action.allow(), {"memfd_create": Action.user_notif()})
    listener = install(compile_filter(flt), flags=FLAG_NEW_LISTENER)
    assert listener > 0
    forking.CHILD_TIMEOUT = 1
    probe = classify_isolated(["memfd_create"])[0]
    oracle = filter_oracle("faccessat2")
    return probe.status.value, probe.evidence, oracle.kind, oracle.detail


def test_a_call_held_by_an_outer_supervisor_times_out() -> None:
    if kernel_version() < (5, 0):
        pytest.skip("SECCOMP_RET_USER_NOTIF needs Linux 5.0")
    status, evidence, oracle, detail = in_child(_held_by_a_supervisor, timeout=30).get()
    assert status == "unknown"
    assert "did not return within 1 s" in evidence
    assert oracle == "unavailable"
    assert "USER_NOTIF" in detail
