"""The ENOSYS shim: plan + install time, and what the stacked filter costs a syscall.

Targets: plan + install <= 30 ms with ptrace allowed and <= 60 ms under an outer
profile that denies it (the highest allowed call then unknown), each beside a bare
fork+exec of the same command (/bin/true); the stacked filter costs getppid(2) and
stat(2) <= 1.1x what they cost under the outer filter alone.  Everything runs in a
child under a 5.4-era EPERM profile.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from _common import best, in_child, report

from seccompat._launch import run_command
from seccompat.bpf import compile_filter, install
from seccompat.policy import container_filter
from seccompat.shim import ShimPlan, plan, prepare
from seccompat.shim import install as install_shim


def _measure(stmt: str, shim: ShimPlan | None) -> float:
    """In a fresh child: install *shim* (if any), time *stmt*; the best per call."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        if shim is not None:
            install_shim(shim)
        value = best(stmt, 50_000, repeat=3, namespace={"getppid": os.getppid, "stat": os.stat})
        os.write(w, repr(value).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        value = float(f.read())
    os.waitpid(pid, 0)
    return value


def _plan_and_run(target: float) -> tuple[bool, ShimPlan]:
    """plan + prepare + run /bin/true under the shim, against a bare run of it."""
    bare = min(_timed(lambda: run_command(["/bin/true"], lambda: None)) for _ in range(20))
    took = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        shim = plan()
        ready = prepare(shim)
        assert ready is not None
        run_command(["/bin/true"], ready.install)
        took = min(took, time.perf_counter() - start)
    ok = took <= target
    label = f"plan + install, {shim.oracle} ({len(shim.rewrite)} calls rewritten)"
    print(f"{label:44} {took * 1e3:9.2f} ms  vs fork+exec {bare * 1e3:7.2f} ms  "
          f"target <= {target * 1e3:.0f} ms: {'ok' if ok else 'OVER TARGET'}")
    return ok, shim


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _probe_path() -> int:
    install(compile_filter(container_filter(newer_than=(5, 4), deny=["ptrace"])))
    return 0 if _plan_and_run(0.060)[0] else 1


def under_profile() -> int:
    install(compile_filter(container_filter(newer_than=(5, 4))))
    ok, shim = _plan_and_run(0.030)
    # Alternate children with and without the shim, so load drift hits both alike.
    for stmt, name in (("getppid()", "getppid"), ("stat('/')", "stat")):
        without = with_shim = float("inf")
        for _ in range(8):
            without = min(without, _measure(stmt, None))
            with_shim = min(with_shim, _measure(stmt, shim))
        ok &= report(f"{name} with the shim stacked", with_shim, without,
                     "under the outer filter alone", target=1.1)
    return 0 if ok else 1


def main() -> int:
    ok = in_child(under_profile)
    ok &= in_child(_probe_path)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
