"""Profiles: parsing, runtime models, explain, and the filter in the kernel.

The hand-checked expectations come from the corpus MANIFEST and notes (runc's own
integration tests, the 2021 clone3 breakage) and are checked three ways: the
explanation, the compiled program in the emulator, and the program in the kernel.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seccompat._oracle import UNFILTERED, scan
from seccompat.bpf import compile_filter
from seccompat.bpf.emulate import SeccompData, run
from seccompat.bpf.insn import RET
from seccompat.bpf.ir import Action, Rule
from seccompat.profiles import (
    Explanation,
    ProfileError,
    explain,
    load,
    parse,
    parse_runtime,
    translate,
)
from seccompat.profiles.conversion import DropReason
from seccompat.raw import syscall
from seccompat.syscalls import AUDIT_ARCH, arch, lookup, syscalls

from ..kernel import PROFILES, in_child

ALL = sorted(p.name for p in PROFILES.glob("*.json"))
X86_64 = arch("x86_64")
needs_x86_64 = pytest.mark.skipif(os.uname().machine != "x86_64",
                                  reason="expectations use x86_64 numbers")


def _explained(profile: str, runtime: str | None, *names: str) -> dict[str, str]:
    tr = translate(load(PROFILES / profile), runtime, target="x86_64", kernel=(6, 18))
    return {e.name: e.verdict for e in explain(tr, X86_64, list(names))}


# --- parsing -------------------------------------------------------------------

#: Profiles a runtime refuses (the container fails to start; seen with the real
#: engines, tests/engines): crun takes no rule without names, and libseccomp no
#: ERRNO above 4094 (moby's example fixture has errnoRet 12345, which Docker up to
#: 20.10.9 drops).
REFUSED = {
    **{(n, "crun"): "crun refuses a rule without names" for n in (
        "docker-labs-default-no-chmod.json", "jessfraz-chrome.json",
        "moby-fixture-default-old-format.json", "moby-fixture-example.json")},
    ("moby-fixture-example.json", "podman:3.3+crun:0.21"): "libseccomp refuses ERRNO(12345)",
}


@pytest.mark.parametrize("name", ALL)
def test_every_corpus_profile_parses_translates_and_compiles(name: str) -> None:
    profile = load(PROFILES / name)
    assert profile.syscalls or name == "docker-labs-deny.json"
    for runtime in ("runc:1.0.0-rc92", "runc:1.0.0-rc93", "runc", "crun",
                    "docker:19.03.0", "docker:20.10.0", "podman:3.3+crun:0.21"):
        if (name, runtime) in REFUSED:
            with pytest.raises(ProfileError, match=re.escape(REFUSED[name, runtime])):
                translate(profile, runtime, target="x86_64")
            continue
        tr = translate(profile, runtime, target="x86_64")
        program = compile_filter(tr.filter)
        assert 0 < len(program) <= 4096


def test_config_json_and_string_errnos() -> None:
    config = {"ociVersion": "1.0.2", "linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS",
        "syscalls": [{"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
                     {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}}}
    profile = parse(json.dumps(config))
    assert profile.default_errno == errno.ENOSYS
    assert profile.syscalls[0].errno_ret == errno.EACCES
    assert profile.syscalls[0].path == "linux.seccomp.syscalls[0]"


BAD = [
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [', "", "not valid JSON"),
    ('{"syscalls": []}', "defaultAction", "missing"),
    ('{"defaultAction": "SCMP_ACT_EXPLODE"}', "defaultAction", "unknown action"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', "syscalls", "must be a list"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": '
     '"SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SIMILAR"}]}]}',
     "syscalls[0].args[0].op", "unknown op"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": '
     '"SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
     "syscalls[0].args[0].index", "outside 0..5"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": '
     '"SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}',
     "syscalls[0].args[0].value", "outside"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": '
     '"SCMP_ACT_ALLOW"}]}', "syscalls[0].names", "must be a list"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}',
     "architectures[0]", "unknown architecture"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": true}', "defaultErrnoRet",
     "not a boolean"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": '
     '"SCMP_ACT_ERRNO", "errno": "EWHATEVER"}]}', "syscalls[0].errno", "unknown errno"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": '
     '"SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}', "syscalls[0].includes.minKernel",
     "not a kernel version"),
    ('{"a":' * 40 + '1' + '}' * 40, "", "deeper than"),
    ('[' * 100000 + ']' * 100000, "", "nested"),
]


@pytest.mark.parametrize(("text", "path", "message"), BAD)
def test_bad_input_names_the_json_path(text: str, path: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as info:
        parse(text)
    assert info.value.path.startswith(path) if path else True
    if path:
        assert str(info.value).startswith(path)


def test_bad_input_on_the_command_line(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(17 << 20)
    bad = tmp_path / "bad.json"
    bad.write_text(BAD[4][0])
    for path, message in ((huge, "larger than"), (bad, "syscalls[0].args[0].op"),
                          (tmp_path / "missing.json", "No such file")):
        proc = subprocess.run([sys.executable, "-m", "seccompat", "explain", str(path)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_runtime_strings() -> None:
    assert parse_runtime("runc:1.0.0-rc92").label() == "runc:1.0.0-rc92"
    assert parse_runtime("docker:20.10.7+runc:1.0.0").label() == "docker:20.10.7+runc:1.0.0"
    assert parse_runtime("docker:20.10.0").label() == "docker:20.10.0+runc:1.0.0-rc92"
    assert parse_runtime("podman:3.3+crun:0.21").low == "crun"
    for bad in ("lxc:1", "runc:one", "runc:1+docker:20", "docker:1+podman:2", "a+b+c"):
        with pytest.raises(ValueError, match=r"runtime|version|engine|comes"):
            parse_runtime(bad)


# --- runtime models, hand-checked ----------------------------------------------

@needs_x86_64
def test_runc_test1_expectations() -> None:
    # runc tests/integration/seccomp.bats with seccomp_syscall_test1.c.
    got = _explained("runc-testdata-seccomp_syscall_test1.json", "runc", "unshare", "setns",
                     "1000", "socket", "process_vm_writev")
    assert got == {"unshare": "errno EPERM (1)", "setns": "errno EPERM (1)",
                   "#1000": "errno ENOSYS (38)", "socket": "depends on arguments",
                   "process_vm_writev": "depends on arguments"}
    tr = translate(load(PROFILES / "runc-testdata-seccomp_syscall_test1.json"), "runc")
    (pvw,) = explain(tr, X86_64, ["process_vm_writev"])
    assert [str(b.action) for b in pvw.branches] == ["ERRNO(55)", "ERRNO(55)"]
    assert pvw.otherwise == Action.errno(errno.EPERM)
    # Before runc 1.2 a profile without architectures got no stub at all.
    assert _explained("runc-testdata-seccomp_syscall_test1.json", "runc:1.1.0",
                      "1000") == {"#1000": "errno EPERM (1)"}


def _runc_test1_calls() -> dict[str, tuple[int, int]]:
    nr = {n: lookup(n).number for n in ("unshare", "setns", "socket", "process_vm_writev")}
    return {"unshare": syscall(nr["unshare"], 0),
            "setns": syscall(nr["setns"], 2**32 - 1, 0),
            "1000": syscall(1000),
            "socket": syscall(nr["socket"], 2, 1, 0x100),  # protocol outside the mask: EPERM
            "process_vm_writev": syscall(nr["process_vm_writev"], 1337, 0, 0, 0, 0, 0),
            "process_vm_writev other": syscall(nr["process_vm_writev"], 1, 0, 0, 0, 0, 0)}


@needs_x86_64
def test_runc_test1_in_the_kernel() -> None:
    tr = translate(load(PROFILES / "runc-testdata-seccomp_syscall_test1.json"), "runc")
    got = in_child(_runc_test1_calls, filter=tr.filter).get()
    assert {k: v[1] for k, v in got.items()} == {
        "unshare": errno.EPERM, "setns": errno.EPERM, "1000": errno.ENOSYS,
        "socket": errno.EPERM, "process_vm_writev": 55, "process_vm_writev other": errno.EPERM}


@needs_x86_64
def test_runc_test2_default_errno() -> None:
    name = "runc-testdata-seccomp_syscall_test2.json"
    assert _explained(name, "runc", "chdir") == {"chdir": "errno ENXIO (6)"}
    # defaultErrnoRet arrived in runc 1.0.0-rc95.
    assert _explained(name, "runc:1.0.0-rc94", "chdir") == {"chdir": "errno EPERM (1)"}
    tr = translate(load(PROFILES / name), "runc")
    assert in_child(os.chdir, "/", filter=tr.filter).error is not None
    got = in_child(lambda: syscall(lookup("chdir").number, b"/\0"), filter=tr.filter).get()
    assert got == (-1, errno.ENXIO)


@needs_x86_64
def test_docker_20_10_0_and_the_clone3_breakage() -> None:
    name = "moby-default-v20.10.0.json"
    got = _explained(name, "docker:20.10.0+runc:1.0.0-rc93", "clone3", "faccessat2",
                     "epoll_pwait2", "close_range", "pidfd_getfd")
    assert got == {"clone3": "errno EPERM (1)", "faccessat2": "allow",
                   "epoll_pwait2": "errno ENOSYS (38)", "close_range": "errno EPERM (1)",
                   "pidfd_getfd": "errno EPERM (1)"}  # needs CAP_SYS_PTRACE
    assert _explained(name, "docker:20.10.0+runc:1.0.0-rc93", "pidfd_getfd",
                      ) == {"pidfd_getfd": "errno EPERM (1)"}
    tr = translate(load(PROFILES / name), "docker:20.10.0+runc:1.0.0-rc93",
                   caps=["CAP_SYS_PTRACE"])
    assert explain(tr, X86_64, ["pidfd_getfd"])[0].verdict == "allow"
    assert tr.stub["x86_64"] == 439
    assert tr.stub["x86"] == 439
    assert tr.stub["x32"] == 0x40000000 | 547  # x32-only calls: the stub misses x32


@needs_x86_64
def test_docker_19_03_under_rc92_and_rc93() -> None:
    name = "moby-default-v19.03.0.json"
    names = ("clone3", "faccessat2", "rseq", "io_pgetevents")
    assert _explained(name, "docker:19.03.0+runc:1.0.0-rc92", *names) == {
        "clone3": "errno EPERM (1)", "faccessat2": "errno EPERM (1)", "rseq": "errno EPERM (1)",
        "io_pgetevents": "allow"}
    assert _explained(name, "docker:19.03.0+runc:1.0.0-rc93", *names) == {
        "clone3": "errno ENOSYS (38)", "faccessat2": "errno ENOSYS (38)",
        "rseq": "errno ENOSYS (38)", "io_pgetevents": "allow"}
    tr = translate(load(PROFILES / name), "docker:19.03.0+runc:1.0.0-rc93")
    assert tr.stub["x86_64"] == 333
    # Not 402 (msgctl): libseccomp names i386's socket and IPC calls by pseudo numbers,
    # which runc's stub skips (the real engines agree, tests/engines).
    assert tr.stub["x86"] == 385


@needs_x86_64
def test_engine_conditions() -> None:
    name = "moby-fixture-conditional_include.json"
    old_runc = "docker:20.10.7+runc:1.0.0"  # no architectures: no stub before runc 1.2
    assert _explained(name, old_runc, "syslog", "ptrace") == {
        "syslog": "errno EPERM (1)", "ptrace": "allow"}
    # Current runc stubs the native ABI anyway: syslog (103) is above ptrace (101).
    assert _explained(name, "docker", "syslog") == {"syslog": "errno ENOSYS (38)"}
    got = translate(load(PROFILES / name), old_runc, caps=["CAP_SYSLOG", "CAP_SYS_ADMIN"])
    assert {e.name: e.verdict for e in explain(got, X86_64, ["syslog", "ptrace"])} == {
        "syslog": "allow", "ptrace": "errno EPERM (1)"}
    # minKernel: Docker checks it, podman ignores it.
    moby = "moby-default-v19.03.0.json"
    old = translate(load(PROFILES / moby), "docker", kernel=(4, 4))
    assert explain(old, X86_64, ["ptrace"])[0].verdict == "errno EPERM (1)"
    pod = translate(load(PROFILES / moby), "podman", kernel=(4, 4))
    assert explain(pod, X86_64, ["ptrace"])[0].verdict == "allow"


def test_docker_up_to_20_10_9_drops_errno_ret() -> None:
    name = "containers-common-seccomp-2025-04-07.json"
    new = translate(load(PROFILES / name), "podman")
    assert explain(new, X86_64, ["io_uring_setup"])[0].verdict == "errno ENOSYS (38)"
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {}}]})
    for runtime, want in (("docker:20.10.9", "errno EPERM (1)"),
                          ("docker:20.10.10", "errno ENOSYS (38)")):
        tr = translate(parse(text), runtime, target="x86_64")
        assert explain(tr, X86_64, ["chdir"])[0].verdict == want, runtime


def test_crun_rejects_errno_ret_on_allow() -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]})
    with pytest.raises(ProfileError, match="crun refuses"):
        translate(parse(text), "crun")
    assert translate(parse(text), "runc").warnings == []


def test_old_libseccomp_drops_new_names() -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": ["getpid", "read", "fchmodat2"],
                                     "action": "SCMP_ACT_ALLOW"}]})
    old = translate(parse(text), "runc:1.1.0", target="x86_64")  # libseccomp 2.5.3
    (e,) = explain(old, X86_64, ["fchmodat2"])
    assert e.verdict == "errno ENOSYS (38)"
    assert e.dropped[0].reason is DropReason.LIBSECCOMP_TOO_OLD
    assert str(e.dropped[0]) == "syscalls[0]: runc:1.1.0's libseccomp does not know it"
    new = translate(parse(text), "runc:1.3.0", target="x86_64")  # libseccomp 2.5.6
    assert explain(new, X86_64, ["fchmodat2"])[0].verdict == "allow"


# --- explained == emulated == kernel ----------------------------------------------

def _oracle_kind(action: Action) -> tuple[str, int | None]:
    kind = action.kind
    if kind in (RET.ALLOW, RET.LOG, RET.TRACE):
        return ("passes", None)
    if kind == RET.ERRNO:
        return ("errno", min(action.data, 4095))
    return ("trapped", None) if kind == RET.TRAP else ("killed", None)


def _cases(policy_rules: dict[int, tuple[Rule, ...]]) -> list[tuple[int, tuple[int, ...]]]:
    """Every number 0..1023 with neutral arguments, plus boundary values of every
    comparison of every rule (one argument varied at a time)."""
    cases: list[tuple[int, tuple[int, ...]]] = [(nr, (7,) * 6) for nr in range(1024)]
    for nr, rules in policy_rules.items():
        for rule in rules:
            for c in rule.conditions:
                for v in {c.value - 1, c.value, c.value + 1, c.value ^ 2**32, 0, 2**64 - 1}:
                    args = [7] * 6
                    args[c.index] = v & (2**64 - 1)
                    cases.append((nr, tuple(args)))
    return cases


def _explained_action(explanation: Explanation, args: tuple[int, ...]) -> Action | None:
    if explanation.action is not None:
        return explanation.action
    for b in explanation.branches:
        if all(c.matches(args[c.index]) for c in b.conditions):
            return b.action
    return explanation.otherwise


@needs_x86_64
@pytest.mark.parametrize(("name", "runtime", "in_kernel"), [
    ("moby-default-v20.10.0.json", "docker:20.10.0+runc:1.0.0-rc93", True),
    ("moby-default-v19.03.0.json", "docker:19.03.0", True),
    ("moby-profiles-default-2026-05.json", "docker", True),
    ("containers-common-seccomp-2025-04-07.json", "podman", True),
    # It denies ptrace, which the oracle needs; test_runc_test1_in_the_kernel calls directly.
    ("runc-testdata-seccomp_syscall_test1.json", "runc", False),
])
def test_explained_emulated_and_kernel_agree(name: str, runtime: str, in_kernel: bool) -> None:
    tr = translate(load(PROFILES / name), runtime, kernel=(6, 18))
    (policy,) = [p for p in tr.filter.policies if p.arch == X86_64]
    program = compile_filter(tr.filter)
    unfiltered = {lookup(n).number for n in UNFILTERED["x86_64"]}
    cases = [c for c in _cases(dict(policy.rules)) if c[0] not in unfiltered]
    explained = {int(n): explain(tr, X86_64, [n])[0]
                                     for n in {str(nr) for nr, _ in cases}}
    want = []
    for nr, args in cases:
        decided = policy.decide(nr, args)
        assert _explained_action(explained[nr], args) == decided, (nr, args)
        assert run(program, SeccompData(nr, AUDIT_ARCH["x86_64"], args=args)) == decided.value
        want.append(_oracle_kind(decided))
    # The compat ABI's policy too (no kernel check: a 64-bit process makes x86_64 calls).
    x86 = [p for p in tr.filter.policies if p.arch.name == "x86"]
    for policy32 in x86:
        for nr, args in _cases(dict(policy32.rules)):
            e = explain(tr, policy32.arch, [str(nr)])[0]
            decided = policy32.decide(nr, args)
            assert _explained_action(e, args) == decided, ("x86", nr, args)
            data = SeccompData(nr, AUDIT_ARCH["x86"], args=args)
            assert run(program, data) == decided.value, ("x86", nr, args)
    if not in_kernel:
        return
    results = in_child(scan, cases, filter=tr.filter, timeout=120).get()
    got = [(r.kind, r.errno) for r in results]
    mismatches = [(c, g, w) for c, g, w in zip(cases, got, want, strict=True) if g != w]
    assert not mismatches, mismatches[:10]


def test_cli_explain_and_run_agree() -> None:
    """``seccompat run --profile P -- seccompat probe`` agrees with ``explain P``."""
    name = str(PROFILES / "moby-default-v20.10.0.json")
    runtime = "docker:20.10.0+runc:1.0.0-rc93"
    probe = subprocess.run([sys.executable, "-m", "seccompat", "run", "--profile", name,
                            "--runtime", runtime, "--", sys.executable, "-m", "seccompat",
                            "probe", "--format", "json"], capture_output=True, text=True,
                           check=False)
    assert probe.returncode in (0, 1), probe.stderr  # 1: probe found filtered calls
    probed = {v["name"]: v for v in json.loads(probe.stdout)["syscalls"]}
    out = subprocess.run([sys.executable, "-m", "seccompat", "explain", name, "--runtime", runtime,
                          "--format", "json", *probed], capture_output=True, text=True,
                         check=True)
    checked = 0
    for e in json.loads(out.stdout)["syscalls"]:
        p = probed[e["name"]]
        result = e["result"]
        if result is None or p["status"] in ("unknown", "gated"):
            continue
        if result["action"] == "errno":
            want = "not_implemented" if result["errno"] == errno.ENOSYS else "filtered"
            assert p["status"] in (want, "filtered"), (e, p)
            if p["status"] == "filtered":
                assert p["errno"] == result["errno"], (e, p)
                assert p["errno_name"] == result["errno_name"], (e, p)
        elif result["action"] == "allow":
            assert p["status"] in ("available", "not_implemented"), (e, p)
        checked += 1
    assert checked > 50


def test_explain_cli_names_after_options() -> None:
    proc = subprocess.run([sys.executable, "-m", "seccompat", "explain",
                           str(PROFILES / "moby-default-v20.10.0.json"), "--runtime",
                           "docker:20.10.0+runc:1.0.0-rc93", "clone3", "nosuchcall"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "unknown syscall 'nosuchcall'" in proc.stderr


def test_diff_rc92_against_rc93() -> None:
    name = str(PROFILES / "moby-default-v19.03.0.json")
    proc = subprocess.run([sys.executable, "-m", "seccompat", "diff", name, name, "--runtime",
                           "docker:19.03.0+runc:1.0.0-rc92", "--runtime-b",
                           "docker:19.03.0+runc:1.0.0-rc93", "--arch", "x86_64", "--format",
                           "json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    diffs = {d["name"]: d for d in json.loads(proc.stdout)["differences"]}
    # Exactly the calls above io_pgetevents (333) change, from EPERM to ENOSYS.
    assert {d["number"] for d in diffs.values()} == {
        sc.number for sc in syscalls("x86_64") if sc.number > 333}
    assert all(d["a"]["result"]["errno"] == errno.EPERM and
               d["b"]["result"]["errno"] == errno.ENOSYS for d in diffs.values())
    same = subprocess.run([sys.executable, "-m", "seccompat", "diff", name, name],
                          capture_output=True, text=True, check=False)
    assert same.returncode == 0
    assert "0 of the" in same.stdout


@pytest.mark.parametrize(("text", "label"), [
    ("docker:19.03.0", "docker:19.03.0+runc:1.0.0-rc92"),
    ("docker:20.10.0+runc:1.0.0-rc93", "docker:20.10.0+runc:1.0.0-rc93"),
    ("podman:3.3+crun:0.21", "podman:3.3+crun:0.21"),
    ("runc:1.1.5", "runc:1.1.5"),
])
def test_runtimes_print_as_spelt(text: str, label: str) -> None:
    assert parse_runtime(text).label() == label


@pytest.mark.parametrize("text", ["docker:1.0", "docker:1.9", "runc:9.9.9", "crun:7", "podman:0.9",
                                  "docker:99"])
def test_implausible_runtime_versions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"outside the versions modelled \(") as info:
        parse_runtime(text)
    assert text in str(info.value)


def test_masked_eq_masks_the_datum_as_libseccomp_does() -> None:
    """SCMP_CMP_MASKED_EQ is (arg & value) == (valueTwo & value) in libseccomp, which
    runc and crun call: a valueTwo with bits outside the mask still matches."""
    seccomp = pytest.importorskip("pyseccomp")
    import tempfile

    from seccompat.bpf.insn import unpack

    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": ["kcmp"], "action": "SCMP_ACT_ERRNO",
                                     "errnoRet": 100, "args": [
                                         {"index": 0, "value": 0xFF00, "valueTwo": 1000,
                                          "op": "SCMP_CMP_MASKED_EQ"}]}]})
    ours = compile_filter(translate(parse(text), "runc:1.1.5", target="x86_64").filter)
    theirs = seccomp.SyscallFilter(seccomp.ALLOW)
    theirs.add_rule(seccomp.ERRNO(100), "kcmp", seccomp.Arg(0, seccomp.MASKED_EQ, 0xFF00, 1000))
    with tempfile.TemporaryFile() as f:
        theirs.export_bpf(f)
        f.seek(0)
        exported = unpack(f.read())
    x86_64 = AUDIT_ARCH["x86_64"]
    number = lookup("kcmp", "x86_64").number
    for value in (0x300, 0x3FF, 0x1300, 0x200, 0, 1000, 0xFFFF):
        data = SeccompData(number, x86_64, args=(value, 0, 0, 0, 0, 0))
        assert run(ours, data) == run(exported, data), hex(value)
    assert run(ours, SeccompData(number, x86_64, args=(0x300, 0, 0, 0, 0, 0))) == \
        RET.ERRNO | 100


def test_the_first_unconditional_rule_wins_as_in_libseccomp() -> None:
    """libseccomp keeps the first unconditional rule added for a call, over later
    ones and over every conditional rule: containers-common 2025's setns is allowed
    under runc (its later, capability-gated EPERM rule never applies)."""
    seccomp = pytest.importorskip("pyseccomp")
    import tempfile

    from seccompat.bpf.insn import unpack

    rules = [("setns", "SCMP_ACT_ALLOW", None, []), ("setns", "SCMP_ACT_ERRNO", 1, []),
             ("read", "SCMP_ACT_ERRNO", 6, [{"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]),
             ("read", "SCMP_ACT_ERRNO", 5, []), ("chdir", "SCMP_ACT_ERRNO", 7, []),
             ("chdir", "SCMP_ACT_KILL", None, [])]
    text = json.dumps({"defaultAction": "SCMP_ACT_TRAP", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": [n], "action": a, "args": args,
                                     **({"errnoRet": e} if e is not None else {})}
                                    for n, a, e, args in rules]})
    translation = translate(parse(text), "runc:1.1.5", target="x86_64")
    ours = compile_filter(translation.filter)
    theirs = seccomp.SyscallFilter(seccomp.TRAP)
    actions = {"SCMP_ACT_ALLOW": seccomp.ALLOW, "SCMP_ACT_KILL": seccomp.KILL}
    for name, action, err, args in rules:
        act = seccomp.ERRNO(err) if action == "SCMP_ACT_ERRNO" else actions[action]
        theirs.add_rule(act, name, *(seccomp.Arg(a["index"], seccomp.EQ, a["value"])
                                     for a in args))
    with tempfile.TemporaryFile() as f:
        theirs.export_bpf(f)
        f.seek(0)
        exported = unpack(f.read())
    x86_64 = AUDIT_ARCH["x86_64"]
    for name in ("setns", "read", "chdir"):
        number = lookup(name, "x86_64").number
        for registers in ((0, 0, 0, 0, 0, 0), (0, 2, 0, 0, 0, 0)):
            data = SeccompData(number, x86_64, args=registers)
            assert run(ours, data) == run(exported, data), (name, registers)
    setns = explain(translation, arch("x86_64"), ["setns"])[0]
    assert setns.action == Action.allow()
    assert [d.reason for d in translation.outcomes["setns"].dropped] == [DropReason.SHADOWED]


def test_overlapping_ranges_follow_libseccomps_order() -> None:
    """libseccomp tests the larger GT first and a higher argument before a lower one,
    whatever the profile's order (its tree, :mod:`seccompat.profiles.libseccomp_tree`):
    read arg2 > 128 -> 5 and arg2 > 256 -> 6 give 6 at 300 (the first rule's 5 before)."""
    rules = [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
              "args": [{"index": 2, "value": 128, "op": "SCMP_CMP_GT"}]},
             {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6,
              "args": [{"index": 2, "value": 256, "op": "SCMP_CMP_GT"}]},
             {"names": ["read"], "action": "SCMP_ACT_TRAP",
              "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": rules})
    t = translate(parse(text), "runc:1.1.5", target="x86_64")
    program = compile_filter(t.filter)
    nr, x86_64 = lookup("read", "x86_64").number, AUDIT_ARCH["x86_64"]
    for args, want in (((0, 0, 300), RET.ERRNO | 6), ((0, 0, 200), RET.ERRNO | 5),
                       ((0, 0, 1 << 40), RET.ERRNO | 6), ((7, 0, 300), RET.ERRNO | 6),
                       ((7, 0, 0), RET.TRAP), ((0, 0, 128), RET.ALLOW)):
        data = SeccompData(nr, x86_64, args=(*args, 0, 0, 0))
        assert run(program, data) == want, args
    branches = explain(t, arch("x86_64"), ["read"])[0].branches
    assert [b.where for b in branches] == ["syscalls[1]", "syscalls[0]", "syscalls[2]"]


def test_runc_stub_native_from_1_1_15_and_not_for_highest_zero() -> None:
    """runc #4391 (1.1.15, then 1.2.0) stubs the native ABI with no architectures;
    an ABI whose highest named number is 0 (x86_64 read) gets no stub at all."""
    bare = json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                       "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]})
    x86_64 = arch("x86_64")
    verdict = {v: explain(translate(parse(bare), f"runc:{v}", target="x86_64"), x86_64,
                          ["1000"])[0].action for v in ("1.1.14", "1.1.15", "1.2.0")}
    assert verdict == {"1.1.14": Action.errno(errno.EPERM), "1.1.15": Action.errno(errno.ENOSYS),
                       "1.2.0": Action.errno(errno.ENOSYS)}
    only_read = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures":
                            ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read"],
                                                                "action": "SCMP_ACT_ALLOW"}]})
    t = translate(parse(only_read), "runc:1.1.15", target="x86_64")
    assert t.stub == {}
    assert explain(t, x86_64, ["1000"])[0].action == Action.errno(errno.EPERM)
