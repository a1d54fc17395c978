"""openat2 on a 10-component path: kernel vs the userspace resolver vs os.open.

Targets: the fallback resolver on a plain path <= 4x kernel openat2 (RESOLVE_BENEATH
and RESOLVE_IN_ROOT), the full walk (a symlink and "..") <= 25x; the kernel path
through our wrapper <= 1.3x os.open.  Where a C compiler is present, the same
syscalls in C (openat2_floor.c) show the floor any verified userspace walk has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from _common import paired, report

from seccompat import calls as c
from seccompat.calls._resolver import resolve_open


def main() -> int:
    base = tempfile.mkdtemp()
    try:
        path = "/".join(f"d{i}" for i in range(9)) + "/f"
        os.makedirs(os.path.join(base, os.path.dirname(path)))
        with open(os.path.join(base, path), "w") as f:
            f.write("x")
        root = os.open(base, os.O_PATH | os.O_DIRECTORY)
        ns: dict[str, object] = {"c": c, "os": os, "root": root, "path": path,
                                 "raw": path.encode(), "resolve_open": resolve_open,
                                 "close": os.close, "B": c.RESOLVE_BENEATH,
                                 "R": c.RESOLVE_IN_ROOT, "F": os.O_RDONLY | os.O_CLOEXEC}
        ok = True
        for name, flag in (("RESOLVE_BENEATH", "B"), ("RESOLVE_IN_ROOT", "R")):
            fallback, kernel = paired(f"close(resolve_open(root, raw, F, 0, {flag}))",
                                      f"close(c.openat2(path, dir_fd=root, resolve={flag}))",
                                      5_000, ns, rounds=11)
            ok &= report(f"fallback resolver, {name}", fallback, kernel, "kernel openat2",
                         target=4.0)
        # A path with a symlink and "..": every rule of the walk.
        os.symlink("d8", os.path.join(base, path.rsplit("/", 2)[0], "link"))
        ns["walk"] = (path.rsplit("/", 2)[0] + "/link/../d8/f").encode()
        full, kernel = paired("close(resolve_open(root, walk, F, 0, B))",
                              "close(c.openat2(walk, dir_fd=root, resolve=B))", 1_000, ns,
                              rounds=5)
        ok &= report("full walk (symlink and ..), RESOLVE_BENEATH", full, kernel,
                     "kernel openat2", target=25.0)
        _floor(base)
        ours, plain = paired("close(c.openat2(path, dir_fd=root))",
                             "close(os.open(path, os.O_RDONLY, dir_fd=root))", 20_000, ns,
                             rounds=7)
        ok &= report("openat2 wrapper (kernel path)", ours, plain, "os.open", target=1.3)
        os.close(root)
        return 0 if ok else 1
    finally:
        shutil.rmtree(base)


def _floor(base: str) -> None:
    """The verified walk's syscalls in C, against the kernel in the same process."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "floor")
        try:
            subprocess.run(["cc", "-O2", "-o", exe, os.path.join(here, "openat2_floor.c")],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            print(f"{'userspace floor (C)':44} not measured: no C compiler")
            return
        walk, kernel = map(float, subprocess.run([exe, base], check=True, capture_output=True,
                                                 text=True).stdout.split())
    print(f"{'userspace floor (C, the same syscalls)':44} {walk:9.2f} us  vs kernel openat2 "
          f"{kernel:9.2f} us  ratio {walk / kernel:5.2f}x (no target: the floor)")


if __name__ == "__main__":
    sys.exit(main())
