"""The ``seccompat`` command: one module per subcommand, sharing ``output``.

Usage errors print one line on stderr and exit 2; no traceback reaches the user.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from .output import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

__all__ = ["main"]


#: Subcommands in help order; each module has ``register(subparsers)``.
COMMANDS = ("probe", "run", "shim", "explain", "lint", "fix", "diff")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser, with every subcommand, or just *only* (a command the user named:
    the others' modules are not even imported)."""
    import argparse
    import importlib

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(message)

    parser = _Parser(
        prog="seccompat",
        description="Tell a seccomp filter's EPERM from a real one, and reproduce container "
                    "filters without a container engine.",
    )
    parser.add_argument("--version", action="version", version=f"seccompat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in [only] if only in COMMANDS else COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
        sub.choices[name].add_argument("-q", "--quiet", action="store_true",
                                       help="no warnings or notes, only results and errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seccompat`` and ``python -m seccompat``; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    from .run_cached import try_cached

    status = try_cached(args_list)
    if status is not None:
        return status
    named = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(named)
    try:
        args, extra = parser.parse_known_args(args_list)
        if extra:  # names after options (explain P --runtime R clone3): argparse leaves them
            if getattr(args, "names", None) is None or any(x.startswith("-") for x in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.names = [*args.names, *extra]
        if args.command is None:
            print(f"usage: seccompat [--version] {{{','.join(COMMANDS)}}} ... "
                  "(seccompat --help for more)", file=sys.stderr)
            return 2
        return int(args.handler(args))
    except UsageError as exc:
        print(f"seccompat: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 141  # 128 + SIGPIPE, as a shell reports a closed pipe
    except KeyboardInterrupt:
        return 130
