"""The wrappers against the closest stdlib call, hot path and blocked path.

Targets: hot path (the kernel has the call) <= 1.3x the stdlib call; blocked path
(a filter answers EPERM, after the first verdict) <= 1.1x calling the fallback
directly.
"""

from __future__ import annotations

import os
import sys
import tempfile

from _common import in_child, paired, report

from seccompat import calls as c
from seccompat.bpf import Action, Filter, compile_filter, install

_TMP = tempfile.TemporaryDirectory()  # removed when the benchmark exits


def _files() -> tuple[str, int, int]:
    tmp = tempfile.mkdtemp(dir=_TMP.name)
    src = os.path.join(tmp, "src")
    with open(src, "wb") as f:
        f.write(b"x" * 4096)
    return src, os.open(src, os.O_RDONLY), os.open(os.path.join(tmp, "dst"),
                                                   os.O_WRONLY | os.O_CREAT, 0o644)


def hot() -> bool:
    src, a, b = _files()
    ns: dict[str, object] = {"c": c, "os": os, "src": src, "a": a, "b": b}
    ok = True
    for name, ours, base, n in (
        ("statx", "c.statx(src)", "os.stat(src)", 50_000),
        ("access", "c.access(src, 4)", "os.access(src, 4)", 50_000),
        ("access(effective_ids=True)", "c.access(src, 4, effective_ids=True)",
         "os.access(src, 4, effective_ids=True)", 50_000),
        ("getrandom(32)", "c.getrandom(32)", "os.getrandom(32)", 50_000),
        ("copy_file_range(4096)", "c.copy_file_range(a, b, 4096, 0, 0)",
         "os.copy_file_range(a, b, 4096, 0, 0)", 20_000),
        ("close_range(high, empty)", "c.close_range(100000, 100010)",
         "os.closerange(100000, 100011)", 50_000),
    ):
        ok &= report(f"hot: {name}", *paired(ours, base, n, ns, rounds=7), "stdlib", target=1.3)
    return ok


def blocked() -> int:
    """In a child: EPERM for the new calls; wrapper vs its fallback called directly.

    The fallbacks take the path both as given (for error messages) and encoded, as
    ``os.fsencode`` does; the baseline encodes it, as any caller of theirs must."""
    install(compile_filter(Filter.simple(Action.allow(), dict.fromkeys(
        ["statx", "faccessat2", "getrandom", "copy_file_range", "close_range"],
        Action.errno(1)))))
    src, a, b = _files()
    from seccompat.calls import _close_range, _copy_file_range, _faccessat2, _getrandom, _statx

    ns: dict[str, object] = {"c": c, "os": os, "src": src, "a": a, "b": b, "_statx": _statx,
                             "_faccessat2": _faccessat2, "_getrandom": _getrandom,
                             "_copy_file_range": _copy_file_range, "_close_range": _close_range}
    ok = True
    for name, ours, base, n in (
        ("statx", "c.statx(src)",
         "_statx._fallback(src, os.fsencode(src), None, 0, 0x7FF)", 20_000),
        ("faccessat2(AT_EACCESS|NOFOLLOW)", "c.faccessat2(src, 4, flags=0x300)",
         "_faccessat2._fallback(src, os.fsencode(src), 4, -100, 0x300)", 10_000),
        ("access(effective_ids=True)", "c.access(src, 4, effective_ids=True)",
         "_faccessat2._fallback(src, os.fsencode(src), 4, -100, 0x200)", 10_000),
        ("access", "c.access(src, 4)",
         "_faccessat2._fallback(src, os.fsencode(src), 4, -100, 0)", 20_000),
        ("getrandom(32)", "c.getrandom(32)", "_getrandom._fallback(32, 0)", 20_000),
        ("copy_file_range(4096)", "c.copy_file_range(a, b, 4096, 0, 0)",
         "_copy_file_range._fallback(a, b, 4096, 0, 0)", 10_000),
        ("close_range(high, empty)", "c.close_range(100000, 100010)",
         "_close_range._fallback(100000, 100010, 0)", 5_000),
    ):
        exec(ours, ns)  # the first call learns the verdict
        ok &= report(f"blocked: {name}", *paired(ours, base, n, ns, rounds=9),
                     "its fallback directly", target=1.1)
    return 0 if ok else 1


def main() -> int:
    ok = hot()
    ok &= in_child(blocked)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
