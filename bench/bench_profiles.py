"""Profiles: explain + lint, compile, and what `seccompat run --profile` adds to a command.

* explain of the largest corpus profile for every syscall on 3 ABIs, plus lint:
  target <= 150 ms; printed against json.loads of the same file (the stdlib's share).
* compile (translate + compile, 3 ABIs on x86_64): target <= 50 ms; against
  libseccomp building and exporting the same rules in the same run.
* run-to-exec: `seccompat run --profile P -- /bin/true` against `/bin/true` bare:
  target overhead <= 40 ms; printed against a bare `python3 -c` that execs it.
  Measured byte-compiled, as installed (`make bench` runs compileall first), with
  the program cached by a first run; the first run is printed too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import best, report

from seccompat.bpf import compile_filter
from seccompat.profiles import explain, load, translate
from seccompat.profiles.conversion import Translation
from seccompat.profiles.lint import lint

PROFILES = Path(__file__).resolve().parents[1] / "tests" / "data" / "profiles"
ABIS = ("x86_64", "aarch64", "s390x")


def _largest() -> Path:
    """The profile naming the most syscalls."""
    return max(PROFILES.glob("*.json"),
               key=lambda p: sum(len(r.names) for r in load(p).syscalls))


def _explain_and_lint(path: Path) -> int:
    profile = load(path)
    count = 0
    for abi in ABIS:
        count += len(explain(translate(profile, None, target=abi), _abi(abi)))
    count += len(lint(profile, [None]))
    return count


def _abi(name: str):  # type: ignore[no-untyped-def]
    from seccompat.syscalls import arch

    return arch(name)


def _libseccomp(tr: Translation) -> bytes:
    import pyseccomp as seccomp

    ops = {"EQ": seccomp.EQ, "NE": seccomp.NE, "LT": seccomp.LT, "LE": seccomp.LE,
           "GT": seccomp.GT, "GE": seccomp.GE, "MASKED_EQ": seccomp.MASKED_EQ}
    ctx = seccomp.SyscallFilter(tr.default.value)
    for policy in tr.filter.policies:
        if policy.arch.name != "x86_64":
            ctx.add_arch(getattr(seccomp.Arch, policy.arch.name.upper()))
    for name, outcome in tr.outcomes.items():
        for _, rule in outcome.rules:
            args = [seccomp.Arg(c.index, ops[c.op.value], c.mask, c.value)
                    if c.op.value == "MASKED_EQ" else seccomp.Arg(c.index, ops[c.op.value], c.value)
                    for c in rule.conditions]
            try:
                ctx.add_rule(rule.action.value, name, *args)
            except (OSError, ValueError, RuntimeError):
                pass  # libseccomp refuses some combinations; the timing is what matters
    with tempfile.TemporaryFile() as f:
        ctx.export_bpf(f)
        f.seek(0)
        return f.read()


def _wall(cmd: list[str], rounds: int = 15, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    path = _largest()
    ok = True
    print(f"largest corpus profile: {path.name} ({path.stat().st_size} bytes)")
    text = path.read_text()
    ours = best(lambda: _explain_and_lint(path), 1, repeat=5)
    parse = best(lambda: json.loads(text), 20)
    report(f"explain {len(ABIS)} ABIs + lint", ours, parse, "json.loads", unit="ms")
    verdict = "ok" if ours <= 0.150 else "OVER TARGET"
    print(f"{'  absolute':44} {ours * 1e3:9.2f} ms  target <= 150 ms: {verdict}")
    ok &= ours <= 0.150

    profile = load(path)
    tr = translate(profile, None, target="x86_64")
    ours = best(lambda: compile_filter(translate(profile, None, target="x86_64").filter), 1,
                repeat=7)
    try:
        theirs = best(lambda: _libseccomp(tr), 1, repeat=7)
    except ImportError:
        print("pyseccomp is not installed: no libseccomp baseline")
        return 1
    report("translate + compile (x86_64, x86, x32)", ours, theirs, "libseccomp", unit="ms")
    print(f"{'  absolute':44} {ours * 1e3:9.2f} ms  target <= 50 ms: "
          f"{'ok' if ours <= 0.050 else 'OVER TARGET'}")
    ok &= ours <= 0.050

    true = "/bin/true"
    seccompat = [str(Path(sys.executable).with_name("seccompat")), "run", "--profile",
                 str(path), "--", true]
    bare = _wall([true])
    python = _wall([sys.executable, "-S", "-c", f"import os; os.execv({true!r}, [{true!r}])"])
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SECCOMPAT_CACHE_DIR": cache}
        cold = _wall(seccompat, 5, {**env, "SECCOMPAT_NO_CACHE": "1"})
        warm = _wall(seccompat, 15, env)  # the first round fills the cache
    report("run --profile -- /bin/true (cached program)", warm, python, "python -S -c execv",
           unit="ms")
    overhead = warm - bare
    print(f"{'  overhead over /bin/true bare':44} {overhead * 1e3:9.2f} ms  target <= 40 ms: "
          f"{'ok' if overhead <= 0.040 else 'OVER TARGET'}")
    print(f"{'  first run (translate + compile, no cache)':44} {(cold - bare) * 1e3:9.2f} ms  "
          "(no target)")
    ok &= overhead <= 0.040
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
