"""The filter oracle: a stacked TRACE rule plus a real tracer, never running the call."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from seccompat import Status, classify, classify_isolated
from seccompat._oracle import OracleResult, filter_oracle, oracle_args
from seccompat._probes import PROBES
from seccompat.bpf import Action
from seccompat.syscalls import kernel_version, lookup, native_arch

from .kernel import in_child

pytestmark = pytest.mark.skipif(native_arch().name != "x86_64",
                                reason="the never-invoked calls used here are x86_64's")


def _ask(names: list[str]) -> list[OracleResult]:
    return [filter_oracle(n, PROBES[n].args if n in PROBES else ()) for n in names]


def test_each_outcome() -> None:
    rules = {"clone3": Action.errno(errno.ENOSYS), "faccessat2": Action.errno(errno.EPERM),
             "memfd_create": Action.kill_process(), "statx": Action.trap()}
    got = in_child(_ask, ["clone3", "faccessat2", "memfd_create", "statx", "openat2"],
                   rules=rules).get()
    assert [(r.kind, r.errno) for r in got] == [
        ("errno", errno.ENOSYS), ("errno", errno.EPERM), ("killed", None), ("trapped", None),
        ("passes", None)]


def test_no_filter_passes_and_the_call_never_runs(tmp_path: Path) -> None:
    # unlinkat would remove the file if it ran; the oracle only reaches the rule.
    victim = tmp_path / "victim"
    victim.write_text("x")
    path = ctypes.create_string_buffer(bytes(victim))

    def body() -> str:
        return filter_oracle("unlinkat", (-100, ctypes.addressof(path), 0)).kind

    assert in_child(body).get() == "passes"
    assert victim.exists()


def test_calls_that_bypass_seccomp_are_refused() -> None:
    result = filter_oracle("uretprobe")
    assert result.kind == "unavailable"
    assert "bypasses seccomp" in result.detail


def test_a_kill_rule_on_getrandom_does_not_confuse_it() -> None:
    got = in_child(_ask, ["faccessat2"], rules={"getrandom": Action.kill_process()}).get()
    assert got[0].kind == "passes"


def test_oracle_args_fill_spare_slots() -> None:
    padded = oracle_args((1, 2))
    assert padded[:2] == (1, 2)
    assert len(padded) == 6
    assert len(set(padded[2:])) == 4


def test_isolated_classify_tells_filter_enosys_from_a_missing_call() -> None:
    def body() -> tuple[tuple[str, int | None, str], tuple[str, int | None, str]]:
        inproc, isolated = classify("clone3"), classify("clone3", isolate=True)
        return ((inproc.status.value, inproc.errno, inproc.evidence),
                (isolated.status.value, isolated.errno, isolated.evidence))

    inproc, isolated = in_child(body, rules={"clone3": Action.errno(errno.ENOSYS)}).get()
    assert inproc[:2] == ("not_implemented", errno.ENOSYS)  # ambiguous in process
    assert isolated[:2] == ("filtered", errno.ENOSYS)
    assert "filter oracle" in isolated[2]


def test_never_invoked_calls_are_classified_through_the_oracle() -> None:
    def body() -> list[tuple[str, int | None, str]]:
        return [(v.status.value, v.errno, v.evidence)
                for v in classify_isolated(["map_shadow_stack", "rseq_slice_yield"])]

    eperm = in_child(body, rules={"map_shadow_stack": Action.errno(errno.EPERM),
                                  "rseq_slice_yield": Action.kill_process()}).get()
    assert eperm[0][:2] == ("filtered", errno.EPERM)
    assert "never invoked" in eperm[0][2]
    assert eperm[1][0] == "killed"
    # A filter is active but leaves map_shadow_stack alone.
    calm = in_child(body, rules={"memfd_create": Action.errno(1)}).get()
    expected = "unknown" if kernel_version() >= lookup("map_shadow_stack").since \
        else "not_implemented"
    assert calm[0][0] == expected
    assert "no filter answers it" in calm[0][2]


def test_without_ptrace_the_oracle_says_why() -> None:
    def body() -> tuple[str, str]:
        v = classify("clone3", isolate=True)
        return v.status.value, v.evidence

    status, evidence = in_child(body, rules={"clone3": Action.errno(errno.ENOSYS),
                                             "ptrace": Action.errno(errno.EPERM)}).get()
    assert status == Status.NOT_IMPLEMENTED.value
    assert "filter oracle unavailable: ptrace" in evidence


def test_oracle_leaves_no_child_behind() -> None:
    def body() -> list[str]:
        filter_oracle("faccessat2", PROBES["faccessat2"].args)
        filter_oracle("memfd_create", PROBES["memfd_create"].args)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
        return ["a child is left"]

    assert in_child(body, rules={"memfd_create": Action.kill_process()}).get() == []
