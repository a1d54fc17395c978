"""``seccompat diff``: the syscalls whose verdict differs between two profiles."""

from __future__ import annotations

import argparse

from ..profiles.explain import Explanation, differences
from .explain import explanation_json, verdict_text
from .output import print_json, table
from .profile_args import add_profile_args, translated

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .output import Subcommands

HELP = "list the syscalls whose verdict differs between two profiles (or two runtimes)"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("diff", help=HELP, description=HELP + ".",
                       epilog="exit status: 0 no difference, 1 differences, 2 usage error")
    p.add_argument("profile_a", metavar="A", help="the first OCI or Docker seccomp JSON")
    p.add_argument("profile_b", metavar="B", help="the second (it may be the same file, "
                   "compared under --runtime and --runtime-b)")
    add_profile_args(p, profile="none", arch_help="the ABI whose verdicts to compare")
    p.add_argument("--runtime-b", metavar="R", help="runtime for B (default: --runtime)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="a table (default) or JSON")
    p.set_defaults(handler=run)


def _text(e: Explanation) -> str:
    return f"{verdict_text(e)} ({e.why})"


def run(args: argparse.Namespace) -> int:
    a, abi = translated(args, args.profile_a, args.runtime)
    b, _ = translated(args, args.profile_b, args.runtime_b or args.runtime)
    diffs = differences(a, b, abi)
    if args.format == "json":
        print_json({"a": {"profile": args.profile_a, "runtime": a.runtime.label()},
                    "b": {"profile": args.profile_b, "runtime": b.runtime.label()},
                    "arch": abi.name,
                    "differences": [{"name": x.name, "number": x.number,
                                     "a": explanation_json(x), "b": explanation_json(y)}
                                    for x, y in diffs]})
    else:
        print(f"A: {args.profile_a} as {a.runtime.label()}")
        print(f"B: {args.profile_b} as {b.runtime.label()}")
        print(f"{len(diffs)} of the {abi.name} syscalls differ")
        if diffs:
            print()
            table([[x.name, str(x.number), _text(x), _text(y)] for x, y in diffs],
                  ["NAME", "NR", "A", "B"])
    return 1 if diffs else 0
