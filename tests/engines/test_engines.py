"""The differential against real engines: for every profile of the test corpus and
every engine installed here, what the container's filter answered (probe.c, every
call number of x86_64, x32 and i386, plus the boundaries of the profile's argument
rules) equals what ``explain --runtime <that engine>`` says and what
``seccompat run --profile --runtime <that engine>`` installs (its compiled program,
emulated, and the same probe under it in the kernel).

The model each engine is compared with is the one its own ``--version`` names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from seccompat.bpf import compile_filter
from seccompat.bpf.emulate import SeccompData, run
from seccompat.bpf.insn import RET
from seccompat.profiles import ProfileError, explain, parse, parse_runtime, translate
from seccompat.profiles.conversion import Translation
from seccompat.profiles.model import Profile
from seccompat.syscalls import X32_SYSCALL_BIT, arch, kernel_version, syscalls

from ..kernel import PROFILES
from ..profiles.vectors import boundaries
from .cases import CASES
from .conftest import get_engine
from .harness import RUNTIME_NEEDS, Call, Daemon, Engine, EngineFailed, parse_output

pytestmark = pytest.mark.slow

COOKIE = 0x5EC0C0DE  # probe.c: the sixth argument of every probed call
ENGINES = ("runc", "crun", "podman+runc", "podman+crun", "docker", "containerd")
CORPUS = sorted(p.name for p in PROFILES.glob("*.json")) + sorted(CASES)
ABIS = ("x86_64", "x32", "x86")


def answer(value: int) -> str:
    """What probe.c prints for a filter's return value."""
    action, data = value & RET.ACTION_FULL, value & RET.DATA
    if action in (RET.KILL_PROCESS, RET.KILL_THREAD):
        return "signal 31"
    if action == RET.TRAP:
        return f"trap {data}"
    if action == RET.ERRNO:
        return f"errno {min(data, 4095)}" if data else "ret 0"
    return "passes"


def calls_for(profile: Profile) -> list[Call]:
    """Every number of each ABI (and a few past its table, and 1000), and the
    argument boundaries of every rule with arguments."""
    calls = []
    bounds = boundaries(profile)
    for abi in ABIS:
        table = syscalls(abi)
        base = X32_SYSCALL_BIT if abi == "x32" else 0
        top = max(sc.number for sc in table) - base
        calls += [Call(abi, n) for n in (*range(top + 3), 1000)]
        for sc in table:
            for vec in sorted(bounds.get(sc.name, ())):
                if abi == "x86" and any(v >> 32 for v in vec):
                    continue  # int 0x80 passes 32-bit registers
                if any(vec):
                    calls.append(Call(abi, sc.number - base, vec))
    return calls


def raw_number(call: Call) -> int:
    return call.nr | X32_SYSCALL_BIT if call.abi == "x32" else call.nr


@dataclass
class Expected:
    translation: Translation | None
    profile: dict[str, object]
    """The profile given to the engine: the corpus file, plus a rule allowing
    RUNTIME_NEEDS where the file denies what the probe and the runtime need."""
    augmented: bool
    refused: str | None = None
    """The model's ProfileError: the runtime refuses the profile (the container fails)."""


def _translate(profile: dict[str, object], model: str, libseccomp: str | None
               ) -> Translation:
    return translate(parse(json.dumps(profile)), parse_runtime(model, libseccomp),
                     target="x86_64", kernel=kernel_version())


@cache
def expected(name: str, model: str, libseccomp: str | None) -> Expected:
    profile: dict[str, Any] = CASES[name] if name in CASES else \
        json.loads((PROFILES / name).read_text())
    try:
        t = _translate(profile, model, libseccomp)
    except ProfileError as exc:
        return Expected(None, profile, False, str(exc))
    host = arch("x86_64").audit_arch
    needs = [n for n in RUNTIME_NEEDS
             if answer(t.filter.decide(host, _nr(n), (0,) * 6).value) != "passes"]
    if not needs:
        return Expected(t, profile, False)
    profile = {**profile, "syscalls": [*(profile.get("syscalls") or []),
                                       {"names": list(RUNTIME_NEEDS),
                                        "action": "SCMP_ACT_ALLOW"}]}
    return Expected(_translate(profile, model, libseccomp), profile, True)


def _nr(name: str) -> int:
    return next(sc.number for sc in syscalls("x86_64") if sc.name == name)


def model_answers(exp: Expected, calls: list[Call]) -> dict[Call, tuple[str, str, str]]:
    """Per call: (explain's verdict, the IR's, the compiled program's in the emulator)."""
    t = exp.translation
    assert t is not None
    program = compile_filter(t.filter)
    out = {}
    for call in calls:
        a = arch(call.abi)
        nr = raw_number(call)
        args = (*call.args, COOKIE)
        explained = explain(t, a, [str(nr)])[0].decide(args).value
        out[call] = (answer(explained), answer(t.filter.decide(a.audit_arch, nr, args).value),
                     answer(run(program, SeccompData(nr, a.audit_arch, args=args))))
    return out


def seccompat_run(exp: Expected, engine: Engine, calls: list[Call], probe: Path
                  ) -> dict[Call, str]:
    """The same probe under ``seccompat run --profile --runtime`` (the real kernel)."""
    where = engine.scratch / "ours"
    where.mkdir(exist_ok=True)
    prof, listing = where / "profile.json", where / "calls"
    prof.write_text(json.dumps(exp.profile))
    listing.write_text("".join(c.line() + "\n" for c in calls))
    libseccomp = ["--libseccomp", engine.libseccomp] if engine.libseccomp else []
    proc = subprocess.run([sys.executable, "-m", "seccompat", "run", "--profile", str(prof),
                           "--runtime", engine.model, *libseccomp, "--", str(probe),
                           str(listing)], capture_output=True, text=True, timeout=300,
                          check=False)
    if exp.refused is not None:
        assert proc.returncode == 2, proc.stderr
        assert exp.refused in proc.stderr
        return {}
    assert proc.returncode == 0, proc.stderr
    return parse_output(calls, proc.stdout)


@pytest.fixture(scope="session")
def host_quirks(probe: Path, scratch: Path) -> dict[tuple[str, int], str]:
    """Numbers this host's kernel answers before seccomp sees them, found by the
    probe with no filter of ours: every call must read "passes" there.  (This VM's
    kernel kills x86_64 335 with SIGILL and answers 336 with ENXIO, filter or not.)"""
    calls = [Call(abi, n) for abi in ABIS
             for n in {c.nr for c in calls_for(Profile("SCMP_ACT_ALLOW")) if c.abi == abi}]
    listing = scratch / "baseline-calls"
    listing.write_text("".join(c.line() + "\n" for c in calls))
    out = subprocess.run([str(probe), str(listing)], capture_output=True, text=True,
                         check=True).stdout
    return {(c.abi, c.nr): v for c, v in parse_output(calls, out).items() if v != "passes"}


def disagreements(engine: Engine, name: str, probe: Path,
                  quirks: dict[tuple[str, int], str]) -> tuple[list[str], Expected]:
    exp = expected(name, engine.model, engine.libseccomp)
    calls = [c for c in calls_for(parse(json.dumps(exp.profile))) if (c.abi, c.nr) not in quirks]
    try:
        seen = engine.run(exp.profile, calls, probe)
    except EngineFailed as exc:
        if exp.refused is not None:
            seccompat_run(exp, engine, calls, probe)  # refuses it too
            return [], exp
        return [f"{engine.name} did not run the probe: {exc}"], exp
    if exp.refused is not None:
        return [f"{engine.name} ran a profile seccompat says it refuses: {exp.refused}"], exp
    ours = seccompat_run(exp, engine, calls, probe)
    model = model_answers(exp, calls)
    t = exp.translation
    assert t is not None
    from ..profiles.libseccomp_oracle import libseccomp_pfc, libseccomp_program, pfc_text
    program, pfc = libseccomp_program(t), libseccomp_pfc(t)
    bad = []
    for call in calls:
        a = arch(call.abi)
        data = SeccompData(raw_number(call), a.audit_arch, args=(*call.args, COOKIE))
        bpf = run(program, data)
        above = next((p.above for p in t.filter.policies if p.arch == a), None)
        if above is None or raw_number(call) <= above[0]:  # (runc's stub comes first)
            try:
                tree = pfc.decide(a.audit_arch, raw_number(call), data.args)
            except LookupError:
                tree = pfc_text(bpf)  # no rules of its own: the default
            if tree != pfc_text(bpf):
                # libseccomp's BPF departs from its own tree here (it skipped a load
                # a jump needed): the container sees that BPF, our model the tree
                if seen[call] != answer(bpf):
                    bad.append(f"{call.line()}: {engine.name} {seen[call]}, libseccomp's "
                               f"own BPF {answer(bpf)}")
                continue
        explained, ir, emulated = model[call]
        if len({seen[call], ours[call], explained, ir, emulated}) > 1:
            bad.append(f"{call.line()}: {engine.name} {seen[call]}, seccompat run "
                       f"{ours[call]}, explain {explained}, IR {ir}, emulated {emulated}")
    return bad, exp


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize("engine_name", ENGINES)
def test_real_engine_agrees_with_the_model(engine_name: str, name: str, probe: Path,
                                           engine_table: dict[str, tuple[str | None, str]],
                                           scratch: Path, daemons: dict[str, Daemon],
                                           host_quirks: dict[tuple[str, int], str]) -> None:
    engine = get_engine(engine_name, engine_table, scratch, daemons)
    bad, _ = disagreements(engine, name, probe, host_quirks)
    assert not bad, f"{len(bad)} disagreements under {engine.model}:\n" + "\n".join(bad[:25])


def test_the_host_answers_few_numbers_before_seccomp(host_quirks: dict[tuple[str, int], str]
                                                     ) -> None:
    """The calls left out of the differential: numbers the kernel here answers with
    no filter of ours in the way (none on a stock kernel)."""
    assert len(host_quirks) <= 4, host_quirks
