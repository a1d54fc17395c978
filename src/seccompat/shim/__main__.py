"""``python -m seccompat.shim [-m MODULE | -c CODE | SCRIPT] [ARGS ...]``.

Installs the ENOSYS shim in this interpreter, then runs the target as ``python``
would, for Python applications whose entry point cannot change.  (From
``sitecustomize.py``: ``import seccompat.shim; seccompat.shim.install_from_env()``
installs it when ``SECCOMPAT_SHIM=1``.)
"""

from __future__ import annotations

import runpy
import sys

from . import ShimError, install


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0].strip("`."), file=sys.stderr)
        return 2 if not argv else 0
    try:
        install()
    except ShimError as exc:
        print(f"seccompat.shim: {exc}", file=sys.stderr)
        return 125
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c" and len(argv) > 1:
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
