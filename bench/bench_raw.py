"""Raw syscalls vs the ``os`` module: getppid(2) and stat(2).  Target: <= 1.5x."""

from __future__ import annotations

import ctypes
import os
import sys

from _common import best, paired, report

from seccompat import raw
from seccompat.syscalls import lookup

GETPPID = lookup("getppid").number
NEWFSTATAT = lookup("newfstatat").number if os.uname().machine == "x86_64" else \
    lookup("fstatat64").number
AT_FDCWD = -100


def main() -> int:
    print(f"raw implementation: {raw.IMPLEMENTATION}")
    path = ctypes.create_string_buffer(b"/tmp")
    buf = ctypes.create_string_buffer(256)
    ns: dict[str, object] = {
        "syscall": raw.syscall, "ctypes_syscall": raw.ctypes_syscall,
        "getppid": os.getppid, "stat": os.stat,
        "p": ctypes.addressof(path), "b": ctypes.addressof(buf),
    }
    ok = report("raw.syscall(getppid)", *paired(f"syscall({GETPPID})", "getppid()", 200_000, ns),
                "os.getppid()", target=1.5)
    ok &= report("raw.syscall(newfstatat)",
                 *paired(f"syscall({NEWFSTATAT}, {AT_FDCWD}, p, b, 0)", "stat('/tmp')", 50_000,
                         ns),
                 "os.stat()", target=1.5)
    report("raw.ctypes_syscall(getppid) [fallback]",
           best(f"ctypes_syscall({GETPPID})", 50_000, namespace=ns),
           best("getppid()", 300_000, namespace=ns), "os.getppid()")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
