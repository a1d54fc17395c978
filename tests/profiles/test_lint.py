"""seccompat lint: the known problems of the old corpus profiles, nothing but notes in
the newest, each check on a minimal profile, SARIF, and the overlap test's soundness."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompat.bpf.ir import ArgCmp, Op
from seccompat.profiles import load, parse
from seccompat.profiles.argset import satisfiable
from seccompat.profiles.lint import CHECKS, lint

from ..kernel import PROFILES


def _profile(*rules: dict[str, object], **top: object) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                       "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                       **top, "syscalls": list(rules)})


def _codes(text: str, runtime: str | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in lint(parse(text), [runtime], target="x86_64"):
        out.setdefault(f.code, []).append(f"{f.path}: {f.message}")
    return out


def _broken(name: str, runtime: str | None = None) -> str:
    return " ".join(f.message for f in lint(load(PROFILES / name), [runtime], target="x86_64")
                    if f.code == "SC101")


def test_docker_20_10_0_breaks_clone3_and_close_range() -> None:
    broken = _broken("moby-default-v20.10.0.json")
    assert "clone3: glibc >= 2.34" in broken
    assert "close_range" in broken
    assert "faccessat2" not in broken  # allowed; openat2 too
    assert "openat2" not in broken


def test_docker_19_03_under_its_own_runc_breaks_every_new_call() -> None:
    broken = _broken("moby-default-v19.03.0.json", "docker:19.03.0")
    for name in ("clone3", "faccessat2", "openat2", "close_range", "rseq", "pidfd_open"):
        assert f"{name}: " in broken, name
    # Under runc >= rc93 the stub answers ENOSYS above io_pgetevents (333).
    rc93 = "docker:19.03.0+runc:1.0.0-rc93"
    assert "faccessat2" not in _broken("moby-default-v19.03.0.json", rc93)


@pytest.mark.parametrize("name", ["moby-profiles-default-2026-05.json",
                                  "containers-common-seccomp-2025-04-07.json"])
def test_newest_profiles_only_get_notes(name: str) -> None:
    findings = lint(load(PROFILES / name), [None], target="x86_64")
    assert [f for f in findings if f.severity != "note"] == []
    assert {f.code for f in findings} <= {"SC202"}


def test_unknown_names_suggest_the_right_one() -> None:
    found = _codes(_profile({"names": ["read", "opneat", "frobnicate"],
                             "action": "SCMP_ACT_ALLOW"}))
    assert any("names[1]" in m and "'opneat'" in m for m in found["SC201"])
    findings = lint(parse(_profile({"names": ["opneat"], "action": "SCMP_ACT_ALLOW"})),
                    target="x86_64")
    assert [f.fix for f in findings if f.code == "SC201"] == ["did you mean openat?"]
    single = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"name": "opneat", "action": "SCMP_ACT_ALLOW"}]})
    assert any(m.startswith("syscalls[0].name:") for m in _codes(single)["SC201"])


def test_libseccomp_note_for_new_names() -> None:
    found = _codes(_profile({"names": ["read", "fchmodat2", "close_range"],
                             "action": "SCMP_ACT_ALLOW"}))
    notes = " | ".join(found["SC202"])
    assert "fchmodat2 need libseccomp >= 2.5.5" in notes
    assert "close_range need libseccomp >= 2.5.2" in notes
    assert "read" not in notes


def test_overlapping_argument_rules() -> None:
    overlap = _profile(
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_GT"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_LT"}]})
    assert "syscalls[1]" in _codes(overlap)["SC301"][0]
    disjoint = overlap.replace('"value": 100, "op": "SCMP_CMP_LT"',
                               '"value": 8, "op": "SCMP_CMP_LE"')
    assert "SC301" not in _codes(disjoint)


def test_conflicting_unconditional_rules() -> None:
    text = _profile({"names": ["chdir", "read"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["chdir"], "action": "SCMP_ACT_KILL"})
    assert "chdir: allow" in _codes(text)["SC302"][0]


def test_architectures() -> None:
    none = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    assert "SC401" in _codes(none)
    no_x32 = _profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                      architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    assert "x86_64 without x32" in _codes(no_x32)["SC402"][0]
    assert "SC402" not in _codes(_profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"}))


def test_errno_checks() -> None:
    text = _profile({"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1},
                    {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12345})
    found = _codes(text)
    assert found["SC501"][0].startswith("syscalls[0].errnoRet")
    assert found["SC502"][0].startswith("syscalls[1].errnoRet")
    # crun refuses the profile: lint still reports, under the runtimes that accept it.
    assert "SC501" in _codes(text, "crun")


def test_dead_and_redundant_rules() -> None:
    text = _profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["chdir"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LT"}]},
                    {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                    {"names": [], "action": "SCMP_ACT_ALLOW"})
    found = _codes(text)
    assert [m.split(":")[0] for m in found["SC601"]] == ["syscalls[1].args", "syscalls[3].names"]
    assert found["SC602"][0].startswith("syscalls[2].action")


_small = st.integers(0, 31)
_big = st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 2, 2**64 - 1])
_cmp = st.one_of(
    st.builds(ArgCmp, st.just(0), st.sampled_from([Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE]),
              _small),
    st.builds(lambda m, v: ArgCmp(0, Op.MASKED_EQ, v & m, m), _small, _small))


@settings(max_examples=400, deadline=None)
@given(st.lists(_cmp, min_size=1, max_size=4), st.lists(_cmp, min_size=1, max_size=3))
def test_satisfiable_matches_brute_force(a: list[ArgCmp], b: list[ArgCmp]) -> None:
    # With constants below 32, a witness exists iff one exists below 128 (any larger
    # one keeps its low 6 bits and stays above every bound when reduced to 64..127).
    brute = any(all(c.matches(v) for c in a + b) for v in range(128))
    assert satisfiable(tuple(a), tuple(b)) == brute


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seccompat", "lint", *args],
                          capture_output=True, text=True, check=False)


def test_cli_exit_status_and_sarif() -> None:
    old = _cli(str(PROFILES / "moby-default-v20.10.0.json"), "--format", "sarif")
    assert old.returncode == 1, old.stderr
    sarif = json.loads(old.stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert rule_ids == set(CHECKS)
    assert {r["ruleId"] for r in run["results"]} <= rule_ids
    assert all(r["level"] in ("error", "warning", "note") for r in run["results"])
    assert any("clone3" in r["message"]["text"] for r in run["results"])
    new = _cli(str(PROFILES / "moby-profiles-default-2026-05.json"), "--format", "json")
    assert new.returncode == 0, new.stderr
    assert {f["severity"] for f in json.loads(new.stdout)["findings"]} == {"note"}
    bad = _cli(str(PROFILES / "moby-default-v20.10.0.json"), "--runtime", "lxc:1")
    assert bad.returncode == 2
    assert "lxc" in bad.stderr


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Op)), _big, _big), min_size=1, max_size=4))
def test_satisfiable_witnesses_near_64_bit_bounds(spec: list[tuple[Op, int, int]]) -> None:
    # Large bounds: check any "yes" by finding the witness among the bounds' neighbours
    # and the masks' free bits; any "no" by the same candidates finding nothing.
    cmps = tuple(ArgCmp(0, op, (v & m) if op is Op.MASKED_EQ else v,
                        m if op is Op.MASKED_EQ else 2**64 - 1) for op, v, m in spec)
    near = {max(0, min(2**64 - 1, c.value + d)) for c in cmps for d in (-2, -1, 0, 1, 2)}
    near |= {c.value | (~c.mask & (2**64 - 1)) for c in cmps} | {0, 2**64 - 1}
    found = any(all(c.matches(v) for c in cmps) for v in near)
    if found:
        assert satisfiable(cmps)


@pytest.mark.parametrize(("runtime", "advice"), [
    ("docker:20.10.0", "no profile change gives ENOSYS"),
    ("docker:19.03.0", "no profile change gives ENOSYS"),
    ("docker:20.10.12", "errnoRet 38"),
    ("runc:1.0.0-rc93", "errnoRet 38"),
    ("docker:24.0.0", "defaultErrnoRet to 38"),
])
def test_advice_is_what_the_engine_honours(runtime: str, advice: str) -> None:
    """Docker 19.03 and 20.10.0-20.10.9 drop every errnoRet: advising defaultErrnoRet
    there is a lie; the shim is the way.  Older runc keeps a rule's errnoRet only."""
    findings = [f for f in lint(load(PROFILES / "moby-default-v20.10.0.json"), [runtime],
                                target="x86_64") if f.code in ("SC101", "SC102")]
    assert findings
    for f in findings:
        assert advice in f.fix, (f.code, f.fix)
        if "no profile change" in advice:
            assert "seccompat shim" in f.fix
            assert "defaultErrnoRet" not in f.fix


def test_errno_zero_is_accepted_as_runc_accepts_it_and_reported() -> None:
    """runc takes errnoRet 0 as ERRNO(0): the call returns 0 without running."""
    from seccompat.bpf import compile_filter
    from seccompat.bpf.emulate import SeccompData, run
    from seccompat.bpf.insn import RET
    from seccompat.profiles import parse, translate
    from seccompat.syscalls import AUDIT_ARCH, lookup

    text = _profile({"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0})
    assert _codes(text)["SC503"][0].startswith("syscalls[0].errnoRet: errno 0")
    program = compile_filter(translate(parse(text), "runc:1.1.5", target="x86_64").filter)
    data = SeccompData(lookup("chdir", "x86_64").number, AUDIT_ARCH["x86_64"])
    assert run(program, data) == RET.ERRNO | 0


def _kcmp(errno: int, *args: tuple[int, str, int]) -> dict[str, object]:
    return {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno,
            "args": [{"index": i, "op": f"SCMP_CMP_{op}", "value": v} for i, op, v in args]}


def test_libseccomp_refusals_and_dropped_rules() -> None:
    """SC701: a runtime that cannot start the container (libseccomp's EEXIST, EDOM);
    SC303: a rule libseccomp's tree drops; SC702: what an OCI-only reader drops."""
    conflict = _codes(_profile(_kcmp(5, (0, "EQ", 1)), _kcmp(6, (0, "EQ", 1))), "runc:1.1.5")
    assert any(m.startswith("syscalls[1]") and "EEXIST" in m for m in conflict["SC701"])
    endian = _codes(_profile(_kcmp(5), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"]),
                    "crun:1.8.1")
    assert any("s390x" in m and "EDOM" in m for m in endian["SC701"])
    shorter = _codes(_profile(_kcmp(5, (0, "EQ", 1)), _kcmp(6, (0, "EQ", 1), (1, "EQ", 2))),
                     "runc:1.1.5")
    assert [m.split(":")[0] for m in shorter["SC303"]] == ["syscalls[1]"]
    assert "SC701" not in shorter
    docker = load(PROFILES / "moby-default-v20.10.0.json")
    oci = {f.code: f for f in lint(docker, ["runc:1.1.5"], target="x86_64")}
    assert "archMap" in oci["SC702"].message
    assert "SC702" not in {f.code for f in lint(docker, ["docker:20.10.0"], target="x86_64")}
