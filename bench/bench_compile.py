"""Compile 400 rules: time and size against libseccomp, and dispatch depth.

Baseline: libseccomp (through pyseccomp) building and exporting the same filter in
the same run.  Target: dispatch depth O(log n).
"""

from __future__ import annotations

import math
import sys
import tempfile

from _common import best, report

from seccompat.bpf import Action, Filter, compile_filter, dispatch_depth
from seccompat.bpf.insn import unpack
from seccompat.syscalls import syscalls


def main() -> int:
    calls = syscalls("x86_64")[:400]
    rules = {sc.number: (Action.allow() if i % 2 else Action.errno(13))
             for i, sc in enumerate(calls)}
    flt = Filter.simple(Action.errno(1), rules)
    ours = best(lambda: compile_filter(flt), 50)
    program = compile_filter(flt)
    try:
        import pyseccomp as seccomp
    except ImportError:
        print("pyseccomp is not installed: no libseccomp baseline")
        return 1

    def libseccomp() -> bytes:
        ctx = seccomp.SyscallFilter(seccomp.ERRNO(1))
        for nr, action in rules.items():
            ctx.add_rule(action.value, nr)
        with tempfile.TemporaryFile() as f:
            ctx.export_bpf(f)
            f.seek(0)
            return f.read()

    theirs = best(libseccomp, 20)
    their_program = unpack(libseccomp())
    report("compile 400 rules (seccompat)", ours, theirs, "libseccomp", unit="ms")
    depth, their_depth = dispatch_depth(program), dispatch_depth(their_program)
    bound = math.ceil(math.log2(len(rules))) + 3  # tree + arch check + x32 guard
    print(f"{'instructions':44} {len(program):9d}     vs libseccomp {len(their_program):9d}")
    print(f"{'dispatch depth (conditional jumps)':44} {depth:9d}     vs libseccomp "
          f"{their_depth:9d}  (bound log2(n)+3 = {bound}: {'ok' if depth <= bound else 'OVER'})")
    return 0 if depth <= bound else 1


if __name__ == "__main__":
    sys.exit(main())
