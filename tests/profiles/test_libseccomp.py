"""libseccomp as the rule-semantics oracle, on every ABI it supports here.

For each corpus profile and each little-endian ABI as the host, the rules the engine
hands the low-level runtime (``Translation.rules``) go to libseccomp (pyseccomp, this
machine's libseccomp.so.2) exactly as runc adds them: one call at a time, in order,
skipping rules equal to the default, one rule per comparison where an argument index
repeats.  Its exported BPF and our compiled program must give the same verdict for
every number of each ABI in the filter and every argument boundary of the profile,
with runc's ENOSYS stub laid over libseccomp's answer where runc adds one.

A big-endian ABI cannot join a filter on this little-endian host (libseccomp's
seccomp_arch_add fails with EDOM): those hosts are modelled from the sources only.
"""

from __future__ import annotations

import errno
import itertools
import json
import random
import re
from functools import cache

import pytest

from seccompat.bpf import compile_filter
from seccompat.bpf.emulate import SeccompData, run
from seccompat.bpf.insn import action_name
from seccompat.profiles import ProfileError, load, parse, parse_runtime, translate
from seccompat.profiles.conversion import Translation
from seccompat.profiles.model import Profile
from seccompat.syscalls import ARCHES, arch, kernel_version, lookup, syscalls

from ..kernel import PROFILES
from .vectors import boundaries

pytest.importorskip("pyseccomp", reason="pyseccomp (make test installs it) is the "
                                         "libseccomp oracle")
from .libseccomp_oracle import (
    PS_ARCH,
    PS_OPS,
    Pfc,
    in_child,
    libseccomp_pfc,
    libseccomp_program,
    pfc_text,
)

pytestmark = pytest.mark.slow

CORPUS = sorted(p.name for p in PROFILES.glob("*.json"))
HOSTS = sorted(n for n in PS_ARCH if ARCHES[n].little_endian)


def _libseccomp_refuses_too(profile: Profile, host: str, why: str) -> None:
    """Where we say runc fails, libseccomp refuses: the ABIs (EDOM) or the errno."""
    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(seccomp.ALLOW)
    if "EDOM" in why:
        refused = []
        for a in profile.abis(arch(host)):
            try:
                f.add_arch(PS_ARCH[a.name])
            except OSError as exc:
                refused.append((a.name, exc.errno))
        assert refused
        assert all(e == errno.EDOM for _, e in refused), refused
        assert all(not arch(n).little_endian for n, _ in refused), refused
    else:
        found = re.search(r"ERRNO\((\d+)\)", why)
        assert found, why
        with pytest.raises(OSError, match="Invalid argument"):
            f.add_rule(seccomp.ERRNO(int(found.group(1))), "read")


@cache
def _translation(name: str, host: str) -> Translation:
    profile = load(PROFILES / name)
    runtime = "docker:20.10.24+runc:1.1.5" if profile.docker_format else "runc:1.1.5"
    return translate(profile, parse_runtime(runtime, "host"), target=host,
                     kernel=kernel_version(), caps=None)


def _tree(pfc: Pfc, audit_arch: int, nr: int, args: tuple[int, ...]) -> str | None:
    try:
        return pfc.decide(audit_arch, nr, args)
    except LookupError:
        return None  # no rules of its own there


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", CORPUS)
def test_same_verdicts_as_libseccomp(name: str, host: str) -> None:
    profile = load(PROFILES / name)
    try:
        t = _translation(name, host)
    except ProfileError as exc:
        _libseccomp_refuses_too(profile, host, str(exc))
        return
    theirs = libseccomp_program(t)
    pfc = libseccomp_pfc(t)
    ours = compile_filter(t.filter)
    bounds = boundaries(profile, 6)
    bad = []
    departures = 0
    for policy in t.filter.policies:
        a = policy.arch
        table = syscalls(a)
        numbers = {sc.number for sc in table} | set(range(a.nr_base, a.nr_base + 600))
        cases: list[tuple[int, tuple[int, ...]]] = [(nr, (0,) * 6) for nr in sorted(numbers)]
        cases += [(sc.number, vec) for sc in table for vec in sorted(bounds.get(sc.name, ()))]
        for nr, args in cases:
            data = SeccompData(nr, a.audit_arch, args=args)
            tree = _tree(pfc, a.audit_arch, nr, args) if any(args) else None
            if tree is not None and tree != pfc_text(run(theirs, data)):
                # libseccomp's BPF departs from its own tree (its PFC) here: it skipped
                # a load a jump needed.  Ours is the tree.
                departures += 1
                if pfc_text(run(ours, data)) != tree:
                    bad.append(f"{a.name} {nr} {[hex(x) for x in args]}: libseccomp's "
                               f"tree {tree}, ours {pfc_text(run(ours, data))}")
                continue
            want = run(theirs, data)
            if policy.above is not None and nr > policy.above[0]:
                want = policy.above[1].value  # runc's stub, ahead of libseccomp's filter
            got = run(ours, data)
            if got != want:
                bad.append(f"{a.name} {nr} {[hex(x) for x in args]}: libseccomp "
                           f"{action_name(want)}, ours {action_name(got)}")
    assert not bad, f"{len(bad)} differences on {host}:\n" + "\n".join(bad[:20])
    print(name, host, "libseccomp's BPF departs from its tree at", departures, "vectors")


def test_every_little_endian_abi_is_compared() -> None:
    assert {"x86_64", "x86", "x32", "aarch64", "arm", "riscv64", "ppc64le"} <= set(HOSTS)
    assert all(arch(h).little_endian for h in HOSTS)


# -- random rule sets: the orders, merges and refusals no corpus profile shows ----------

_VALUES = [0, 1, 2, 3, 128, 256, 1 << 32, (1 << 32) + 5, 0xFFFFFFFF]
_GRID = [[*_VALUES[:6], 129, 257, 4, 1 << 33], [0, 1, 2, 128, 257, 1 << 32],
         [0, 3, 129, 300, (1 << 32) + 5]]


def _random_rules(r: random.Random) -> list[dict[str, object]]:
    rules = []
    for _ in range(r.randint(2, 5)):
        args = []
        for index in r.sample([0, 1, 2], r.choice([0, 1, 1, 1, 2])):
            op = r.choice(sorted(PS_OPS))
            args.append({"index": index, "op": op, "value": r.choice(_VALUES),
                         "valueTwo": r.choice(_VALUES) if op == "SCMP_CMP_MASKED_EQ" else 0})
        act = r.choice(["ALLOW", "E5", "E6", "E7", "KILL", "TRAP"])
        rule: dict[str, object] = {"names": ["read"], "args": args}
        if act.startswith("E"):
            rule.update(action="SCMP_ACT_ERRNO", errnoRet=int(act[1:]))
        else:
            rule["action"] = f"SCMP_ACT_{act}"
        rules.append(rule)
    return rules


@pytest.mark.parametrize("host", HOSTS)
def test_random_rules_build_libseccomps_tree(host: str) -> None:
    """300 random rule sets for read(): our rules equal libseccomp's tree (its PFC)
    on a grid of argument values, but for at most 3 its pruning changed; where they
    refuse, both refuse (EEXIST).  (The count of sets whose BPF departs from that
    tree, libseccomp 2.5.4's skipped loads, is printed.)"""
    r = random.Random(f"libseccomp-{host}")
    a = arch(host)
    token = "SCMP_ARCH_" + host.upper()
    counts = {"compared": 0, "refused": 0, "bpf-departs": 0, "libseccomp hangs": 0,
              "pruned": 0}
    bad = []
    for _ in range(300):
        rules = _random_rules(r)
        text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures": [token],
                           "syscalls": rules})
        try:
            t = translate(parse(text), "runc:1.1.5", target=host)
        except ProfileError:
            t = None
        built = in_child(t) if t else None
        if t is not None and built is None:
            counts["libseccomp hangs"] += 1  # (runc would hang there too)
            continue
        if isinstance(built, OSError) and built.errno != errno.EEXIST:
            bad.append(f"{rules}: libseccomp fails with {built}")
        theirs, pfc = built if isinstance(built, tuple) else (None, None)
        if t is None or theirs is None or pfc is None:
            if (t is None) != (theirs is None):
                bad.append(f"{rules}: ours {'refuses' if t is None else 'accepts'}, "
                           f"libseccomp {'refuses' if theirs is None else 'accepts'}")
            counts["refused"] += 1
            continue
        counts["compared"] += 1
        nr = lookup("read", a).number
        ours = compile_filter(t.filter)
        departs = False
        pruned: list[str] = []
        for args in itertools.product(*_GRID):
            vec = (*args, 0, 0, 0)
            data = SeccompData(nr, a.audit_arch, args=vec)
            want, got = pfc.decide(a.audit_arch, nr, vec), pfc_text(run(ours, data))
            departs |= pfc_text(run(theirs, data)) != want
            if want != got and not pruned:
                # libseccomp also prunes its tree when it adds a rule, and the pruning
                # sometimes drops a rule no earlier one covers: not modelled (the count
                # is bounded below, each case printed when the bound breaks)
                pruned.append(f"{rules} at {vec}: libseccomp's tree {want}, ours {got}")
        counts["pruned"] += bool(pruned)
        bad += pruned if counts["pruned"] > 3 else []
        counts["bpf-departs"] += departs
    assert not bad, f"{len(bad)} of 300 on {host} ({counts}):\n" + "\n".join(bad[:5])
    assert counts["compared"] >= 250, counts
    print(host, counts)
