"""seccompat fix: round trip on the corpus, the proof, format preservation, and the
fixed filter in the kernel."""

from __future__ import annotations

import difflib
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompat._oracle import UNFILTERED, scan
from seccompat.bpf import RET, Filter, Op, compile_filter
from seccompat.profiles import Explanation, ProfileError, load, parse, translate
from seccompat.profiles.fix import FixError, fix
from seccompat.raw import syscall
from seccompat.syscalls import arch, lookup, syscalls

from ..kernel import PROFILES, in_child

ALL = sorted(p.name for p in PROFILES.glob("*.json"))
X86_64 = arch("x86_64")


@pytest.mark.parametrize("runtime", [None, "podman:3.3+crun:0.21", "runc:1.0.0-rc93"])
@pytest.mark.parametrize("name", ALL)
def test_round_trip(name: str, runtime: str | None) -> None:
    text = (PROFILES / name).read_text()
    if name == "moby-fixture-example.json" and runtime != "runc:1.0.0-rc93":
        # errnoRet 12345: libseccomp refuses it (bare runc reads no "name" rule at all)
        with pytest.raises(ProfileError, match=r"libseccomp refuses ERRNO\(12345\)"):
            fix(text, runtime, target="x86_64")
        return
    if json.loads(text).get("defaultErrnoRet") == errno.ENOSYS:
        with pytest.raises(FixError, match="already ENOSYS"):
            fix(text, runtime, target="x86_64")
        return
    result = fix(text, runtime, target="x86_64")
    assert result.proof.mismatches == []
    assert result.proof.unchanged > 0 or name == "docker-labs-deny.json"
    fixed = parse(result.text)
    program = compile_filter(translate(fixed, runtime, target="x86_64").filter)
    assert len(program) <= 4096
    # Nothing of the original is lost: the rewrite only adds, in the input's layout.
    before, after = json.loads(text), json.loads(result.text)
    assert [k for k in after if k in before] == list(before)
    assert after["syscalls"][:len(before["syscalls"])] == before["syscalls"]
    assert all(after[k] == v for k, v in before.items()
               if k not in ("syscalls", "defaultErrno", "defaultErrnoRet"))
    removed = [line for line in difflib.ndiff(text.splitlines(), result.text.splitlines())
               if line.startswith("- ")]
    assert removed == [] or set(before) & {"defaultErrnoRet", "defaultErrno"} or \
        not before["syscalls"]  # a replaced value, or "[\n]" opened up
    if "defaultErrnoRet ENOSYS" in result.strategy:
        with pytest.raises(FixError, match="already ENOSYS"):
            fix(result.text, runtime, target="x86_64")


def test_docker_20_10_0_fix_says_what_changed() -> None:
    result = fix((PROFILES / "moby-default-v20.10.0.json").read_text(), target="x86_64")
    assert {"clone3", "close_range", "epoll_pwait2", "fchmodat2"} <= result.proof.now_enosys
    assert "faccessat2" not in result.proof.now_enosys  # allowed before, allowed now
    assert result.proof.args_enosys == {"clone", "personality"}
    kept = fix((PROFILES / "moby-default-v20.10.0.json").read_text(), target="x86_64",
               keep=["clone3"])
    assert "clone3" not in kept.proof.now_enosys


def test_runtimes_that_cannot_or_only_partly_be_fixed() -> None:
    text = (PROFILES / "moby-default-v20.10.0.json").read_text()
    with pytest.raises(FixError, match="drops every errnoRet"):
        fix(text, "docker:20.10.0", target="x86_64")
    partial = fix(text, "docker:20.10.12", target="x86_64")
    assert "ignores defaultErrnoRet" in partial.warnings[0]
    rule = json.loads(partial.text)["syscalls"][-1]
    assert rule["errnoRet"] == errno.ENOSYS
    assert "clone3" in rule["names"]
    kill = json.dumps({"defaultAction": "SCMP_ACT_KILL", "syscalls": []})
    with pytest.raises(FixError, match="only an ERRNO default"):
        fix(kill)


def test_config_json_keeps_everything_else() -> None:
    seccomp = json.loads((PROFILES / "runc-testdata-seccomp_syscall_test2.json").read_text())
    config = {"ociVersion": "1.2.0", "process": {"args": ["sh"]},
              "linux": {"namespaces": [{"type": "pid"}], "seccomp": seccomp}}
    result = fix(json.dumps(config, indent=2), target="x86_64")
    out = json.loads(result.text)
    assert out["process"] == config["process"]
    assert out["linux"]["namespaces"] == [{"type": "pid"}]
    assert out["linux"]["seccomp"]["defaultErrnoRet"] == errno.ENOSYS
    assert list(out["linux"]["seccomp"])[:2] == ["defaultAction", "defaultErrnoRet"]


def _kernel_verdicts(flt: Filter, numbers: list[int]) -> dict[int, tuple[str, int | None]]:
    results = in_child(scan, [(nr, (7,) * 6) for nr in numbers], filter=flt,
                       timeout=120).get()
    return {nr: (r.kind, r.errno) for nr, r in zip(numbers, results, strict=True)}


@pytest.mark.skipif(lookup("getppid").arch != "x86_64", reason="x86_64 numbers")
def test_fixed_filter_in_the_kernel() -> None:
    """Every number 0..1023, original and fixed, through the filter oracle."""
    text = (PROFILES / "moby-default-v20.10.0.json").read_text()
    result = fix(text, target="x86_64")
    original = translate(parse(text), None).filter
    fixed = translate(parse(result.text), None).filter
    skip = {lookup(n).number for n in UNFILTERED["x86_64"]}
    numbers = [nr for nr in range(1024) if nr not in skip]
    before, after = _kernel_verdicts(original, numbers), _kernel_verdicts(fixed, numbers)
    now_enosys = {lookup(n).number for n in result.proof.now_enosys
                  if lookup(n).number not in skip}
    args_enosys = {lookup(n).number for n in result.proof.args_enosys}
    named = {sc.number for sc in syscalls("x86_64")}
    for nr in numbers:
        if nr in now_enosys or nr not in named:  # no call has that number: ENOSYS is right
            assert after[nr] == ("errno", errno.ENOSYS), nr
        elif nr in args_enosys and before[nr] == ("errno", errno.EPERM):
            assert after[nr] in (before[nr], ("errno", errno.ENOSYS)), nr
        else:
            assert after[nr] == before[nr], (nr, before[nr], after[nr])
    assert after[lookup("clone3").number] == ("errno", errno.ENOSYS)
    assert before[lookup("clone3").number] == ("errno", errno.EPERM)


def _complement_calls() -> dict[str, tuple[int, int]]:
    nr = lookup("getppid").number
    return {"5": syscall(nr, 5), "6": syscall(nr, 6), "listns": syscall(lookup("listns").number),
            "mount": syscall(lookup("mount").number, 0, 0, 0, 0, 0)}


def test_argument_complement_keeps_the_errno_in_the_kernel() -> None:
    data = json.loads((PROFILES / "moby-profiles-default-2026-05.json").read_text())
    for rule in data["syscalls"]:
        if "getppid" in rule["names"]:
            rule["names"].remove("getppid")
    data["syscalls"].append({"names": ["getppid"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]})
    result = fix(json.dumps(data), target="x86_64")
    assert result.proof.mismatches == []
    assert "getppid" not in result.proof.args_enosys
    fixed = translate(parse(result.text), None).filter
    got = {k: v[1] for k, v in in_child(_complement_calls, filter=fixed).get().items()}
    assert got == {"5": 0, "6": errno.EPERM, "listns": errno.ENOSYS, "mount": errno.EPERM}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seccompat", "fix", *args],
                          capture_output=True, text=True, check=False)


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "fixed.json"
    ok = _cli(str(PROFILES / "moby-default-v20.10.0.json"), "-o", str(out), "--format", "json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["proof"]["mismatches"] == []
    assert "clone3" in report["proof"]["now_enosys"]
    assert load(out).default_errno == errno.ENOSYS
    lint = subprocess.run([sys.executable, "-m", "seccompat", "lint", str(out)],
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout  # the fix clears lint's errors
    # Not fixable, bad input: nothing written.
    for args, status in ((["--runtime", "docker:19.03.0"], 1), (["--runtime", "lxc"], 2)):
        target = tmp_path / f"never-{status}.json"
        proc = _cli(str(PROFILES / "moby-default-v19.03.0.json"), "-o", str(target), *args)
        assert proc.returncode == status, proc.stderr
        assert not target.exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": 1}]}')
    proc = _cli(str(bad), "-o", str(tmp_path / "never.json"))
    assert proc.returncode == 2
    assert "syscalls[0].names" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "fixed.json"]


# --- rules equal to the default, large profiles, the proof's search -----------------

def test_rules_equal_to_the_old_default_stay_skipped() -> None:
    """runc and crun skip a rule equal to the default; once the default is ENOSYS an
    ERRNO rule without errnoRet (EPERM) would start to apply and deny what the
    profile allows, so it gets the new default's errno and stays skipped."""
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [
                   {"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LE"}]},
                   {"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
                   {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    result = fix(json.dumps(profile, indent=2), None, target="x86_64")
    assert result.proof.mismatches == []
    rules = json.loads(result.text)["syscalls"]
    assert rules[1]["errnoRet"] == errno.ENOSYS
    assert rules[2]["errnoRet"] == errno.ENOSYS
    assert "errnoRet" not in rules[0]
    fixed = translate(parse(result.text), None, target="x86_64").filter
    read, write = lookup("read", "x86_64").number, lookup("write", "x86_64").number
    audit = X86_64.audit_arch
    assert fixed.decide(audit, read, (1, 0, 0, 0, 0, 0)).value == RET.ALLOW  # as before
    assert fixed.decide(audit, read, (9, 0, 0, 0, 0, 0)).value == RET.ERRNO | errno.EPERM
    assert fixed.decide(audit, write).value == RET.ERRNO | errno.EPERM  # named: denied


def test_a_large_random_profile_fixes_with_a_clean_proof() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from bench_fix import argument_rules, many_names
    finally:
        sys.path.pop(0)
    for text in (argument_rules(800, seed=7), many_names(2000, seed=7)):
        result = fix(text, None, target="x86_64")
        assert result.proof.mismatches == []


_ops = st.sampled_from([Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.MASKED_EQ])


@st.composite
def _explanations(draw: st.DrawFn) -> Explanation:
    from seccompat.bpf import Action, ArgCmp
    from seccompat.profiles.explain import Branch

    actions = st.sampled_from([Action.allow(), Action.errno(1), Action.errno(38)])
    branches = []
    for _ in range(draw(st.integers(0, 4))):
        conds = tuple(ArgCmp(draw(st.integers(0, 2)), op := draw(_ops), draw(st.integers(0, 9)),
                             draw(st.integers(0, 15)) if op is Op.MASKED_EQ else 0)
                      for _ in range(draw(st.integers(1, 2))))
        branches.append(Branch(conds, draw(actions), ""))
    return Explanation("x", 0, None, "", tuple(branches), draw(actions))


@settings(max_examples=300, deadline=None)
@given(a=_explanations(), b=_explanations())
def test_the_proofs_grid_search_finds_every_difference(a: Explanation, b: Explanation) -> None:
    """The bit-mask grid against a plain loop over every argument value 0..16: every
    difference found there is found by the grid, and every witness it gives is real
    (it may find more: it also tries values far beyond 16)."""
    import itertools

    from seccompat.profiles.proof import _difference

    witness = _difference(a, b)
    if witness is not None:
        assert a.decide(witness) != b.decide(witness)
    brute = any(a.decide((x, y, z, 7, 7, 7)) != b.decide((x, y, z, 7, 7, 7))
                for x, y, z in itertools.product(range(17), repeat=3))
    if brute:
        assert witness is not None


def test_the_output_keeps_the_input_files_mode(tmp_path: Path) -> None:
    source = tmp_path / "profile.json"
    source.write_bytes((PROFILES / "moby-default-v20.10.10.json").read_bytes())
    source.chmod(0o644)
    out = tmp_path / "fixed.json"
    done = subprocess.run([sys.executable, "-m", "seccompat", "fix", str(source), "-o", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644 & ~umask  # mkstemp's 0600 before
