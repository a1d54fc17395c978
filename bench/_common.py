"""Shared timing helper for the benchmarks: best of several repeats, in seconds."""

from __future__ import annotations

import os
import sys
import timeit
import traceback
from collections.abc import Callable


def best(fn: Callable[[], object] | str, number: int, repeat: int = 7,
         namespace: dict[str, object] | None = None) -> float:
    """Seconds per call: the best of *repeat* runs of *number* calls.

    A string is timed as a statement in *namespace*, so two calls can be compared
    with the same shape (no lambda frame on one side only).
    """
    return min(timeit.repeat(fn, number=number, repeat=repeat, globals=namespace)) / number


def report(name: str, ours: float, baseline: float, baseline_name: str, *,
           target: float | None = None, unit: str = "us") -> bool:
    """Print one line: our time, the baseline's, the ratio, and the target verdict."""
    scale = {"us": 1e6, "ms": 1e3}[unit]
    ratio = ours / baseline
    verdict = "" if target is None else ("  ok" if ratio <= target else "  OVER TARGET")
    goal = "" if target is None else f" (target <= {target}x)"
    print(f"{name:<44} {ours * scale:9.2f} {unit}  vs {baseline_name} "
          f"{baseline * scale:9.2f} {unit}  ratio {ratio:5.2f}x{goal}{verdict}")
    return target is None or ratio <= target


def paired(ours: str, baseline: str, number: int, namespace: dict[str, object],
           rounds: int = 15) -> tuple[float, float]:
    """Best seconds per call of two statements timed in alternation, so that a
    burst of load on this machine hits both sides alike."""
    a, b = float("inf"), float("inf")
    for _ in range(rounds):
        a = min(a, timeit.timeit(ours, number=number, globals=namespace) / number)
        b = min(b, timeit.timeit(baseline, number=number, globals=namespace) / number)
    return a, b


def in_child(fn: Callable[[], int]) -> bool:
    """Run *fn* in a forked child (to install a filter there); True if it returned 0."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
