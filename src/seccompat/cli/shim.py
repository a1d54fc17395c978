"""``seccompat shim``: run a command with the outer filter's EPERM for new calls
turned into ENOSYS, so glibc's and the runtimes' own fallbacks work."""

from __future__ import annotations

import argparse
import sys

from .._launch import EXIT_OURS, LaunchError, run_command
from ..raw import errno_name
from ..shim import ShimError, ShimPlan, plan, prepare
from .output import UsageError, name_list, print_json, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .output import Subcommands

HELP = "run a command with EPERM for new syscalls turned into ENOSYS"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("shim", help=HELP, description=HELP + ". Asks the filters already "
                       "installed which calls they refuse, stacks a filter that answers "
                       "ENOSYS for those with known fallbacks (or numbered above the highest "
                       "allowed call), then runs CMD. Nothing is allowed that was denied.",
                       epilog="exit status: as seccompat run (125 when the shim cannot be "
                       "installed)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="format of the --dry-run plan")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all-filtered", action="store_true",
                       help="rewrite every call filtered with an errno other than ENOSYS")
    which.add_argument("--only", action="append", metavar="NAME",
                       help="rewrite exactly these calls (repeatable, or comma-separated), "
                            "when the filters are seen to deny them with an errno")
    p.add_argument("--trust", action="store_true",
                   help="with --only: rewrite the named calls even where nothing can ask "
                        "the filters about them (said in the plan)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command to run with the shim stacked, after --")
    p.set_defaults(handler=run)


def _print_plan(shim: ShimPlan) -> None:
    if not shim.filter_active:
        print("no seccomp filter is active: nothing to rewrite")
        return
    highest = "unknown" if shim.highest_allowed is None else str(shim.highest_allowed)
    print(f"arch {shim.arch}  asked by: {shim.oracle}  highest call the filters allow: "
          f"{highest}")
    for problem in shim.problems:
        print(f"problem: {problem}")
    rows = [[do, e.name, str(e.number), errno_name(e.errno) if e.errno else "-", e.oracle,
             e.reason] for do, entries in (("rewrite", shim.rewrite), ("keep", shim.keep))
            for e in entries]
    print()
    table(rows, ["DO", "NAME", "NR", "NOW", "BY", "WHY"])


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command and not args.dry_run:
        raise UsageError("no command given (seccompat shim [OPTIONS] -- CMD ..., or --dry-run)")
    if args.trust and not args.only:
        raise UsageError("--trust applies to --only")
    only = name_list(args.only) if args.only else None
    try:
        shim = plan(all_filtered=args.all_filtered, only=only, trust=args.trust)
    except LookupError as exc:
        raise UsageError(exc.args[0]) from None
    if args.dry_run:
        if args.format == "json":
            print_json(shim.to_json())
        else:
            _print_plan(shim)
    try:
        ready = prepare(shim)  # every check, before anything runs (--dry-run too)
    except ShimError as exc:
        print(f"seccompat: the shim cannot be installed: {exc}", file=sys.stderr)
        return EXIT_OURS
    if args.dry_run:
        return 0
    try:
        return run_command(command, ready.install if ready is not None else lambda: None)
    except LaunchError as exc:
        print(f"seccompat: {exc}", file=sys.stderr)
        return exc.status
