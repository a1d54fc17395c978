"""seccompat fix on adversarially large profiles: near-linear, target <= 2 s each.

* 6,000 argument rules (random calls, comparisons and actions, every op, a quarter
  of them ERRNO rules equal to the default), default ERRNO: the complement rules,
  the rewrite of the default-equal rules and the proof all scale with the rules;
* one rule naming 10,000 calls (every real one and made-up names), which once cost
  a close-match suggestion per unknown name.

Each is printed against json.loads of the same text (the stdlib's share of the
work), measured in the same run, and fix's proof must be clean.
"""

from __future__ import annotations

import json
import random
import sys
import time

from _common import best, report

from seccompat.profiles.fix import fix
from seccompat.syscalls import arch, syscalls

TARGET_SECONDS = 2.0
_OPS = ("SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_GT", "SCMP_CMP_LT", "SCMP_CMP_GE",
        "SCMP_CMP_LE", "SCMP_CMP_MASKED_EQ")


def argument_rules(count: int = 6000, seed: int = 1) -> str:
    rng = random.Random(seed)
    names = [sc.name for sc in syscalls(arch("x86_64"))]
    rules = []
    for _ in range(count):
        op, value = rng.choice(_OPS), rng.randrange(1 << 16)
        arg: dict[str, object] = {"index": rng.randrange(6), "value": value, "op": op}
        if op == "SCMP_CMP_MASKED_EQ":
            arg["valueTwo"] = value & rng.randrange(1 << 16)
        action = rng.choice(("SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW",
                             "SCMP_ACT_ERRNO"))
        rules.append({"names": [rng.choice(names)], "action": action, "args": [arg]})
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                       "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules})


def many_names(count: int = 10000, seed: int = 1) -> str:
    names = [sc.name for sc in syscalls(arch("x86_64"))]
    names += [f"made_up_{i}" for i in range(count - len(names))]
    random.Random(seed).shuffle(names)
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                       "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}, indent=1)


def main() -> int:
    ok = True
    for label, text, runtime in (
            ("fix, 6,000 argument rules (runc)", argument_rules(), None),
            ("fix, 6,000 argument rules (docker:24.0.0)", argument_rules(), "docker:24.0.0"),
            ("fix, one rule naming 10,000 calls", many_names(), None)):
        start = time.perf_counter()
        result = fix(text, runtime, target="x86_64")
        took = time.perf_counter() - start
        parse = best("json.loads(text)", 1, repeat=5, namespace={"json": json, "text": text})
        ok &= report(f"{label} ({len(text) >> 10} KB)", took, parse, "json.loads", unit="ms")
        clean = not result.proof.mismatches
        fast = took <= TARGET_SECONDS
        print(f"{'':45}target <= {TARGET_SECONDS:.0f} s: {'ok' if fast else 'OVER TARGET'}; "
              f"proof {'clean' if clean else 'NOT CLEAN'}; {result.added_rules} rules added")
        ok &= fast and clean
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
