"""``seccompat shim``: run a command with the outer filter's EPERM for new calls
turned into ENOSYS, so glibc's and the runtimes' own fallbacks work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._launch import EXIT_OURS, LaunchError, run_command
from .._proc import has_capability, process_state
from ..bpf import compile_filter
from ..bpf.load import install
from ..raw import errno_name
from ..shim import ShimPlan, plan, shim_filter
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
                       help="rewrite exactly these calls (repeatable, or comma-separated)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command to run with the shim stacked, after --")
    p.set_defaults(handler=run)


def _print_plan(shim: ShimPlan) -> None:
    if not shim.filter_active:
        print("no seccomp filter is active: nothing to rewrite")
        return
    highest = "unknown" if shim.highest_allowed is None else str(shim.highest_allowed)
    print(f"arch {shim.arch}  highest call the filters allow: {highest}")
    for problem in shim.problems:
        print(f"problem: {problem}")
    rows = [["rewrite", e.name, str(e.number), errno_name(e.errno) if e.errno else "-",
             e.reason] for e in shim.rewrite]
    rows += [["keep", e.name, str(e.number), errno_name(e.errno) if e.errno else "-", e.reason]
             for e in shim.keep]
    print()
    table(rows, ["DO", "NAME", "NR", "NOW", "WHY"])


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command and not args.dry_run:
        raise UsageError("no command given (seccompat shim [OPTIONS] -- CMD ..., or --dry-run)")
    only = None
    if args.only:
        only = name_list(args.only)
    try:
        shim = plan(all_filtered=args.all_filtered, only=only)
    except LookupError as exc:
        raise UsageError(exc.args[0]) from None
    if args.dry_run:
        if args.format == "json":
            print_json(shim.to_json())
        else:
            _print_plan(shim)
        return 0
    if shim.problems:
        print(f"seccompat: the shim cannot be installed: {'; '.join(shim.problems)}",
              file=sys.stderr)
        return EXIT_OURS
    prepare: Callable[[], object] = lambda: None  # noqa: E731 - nothing to rewrite
    if shim.rewrite:
        program = compile_filter(shim_filter(shim))
        needs_nnp = not process_state().no_new_privs and not has_capability("CAP_SYS_ADMIN")
        prepare = lambda: install(program, no_new_privs=needs_nnp)  # noqa: E731
    try:
        return run_command(command, prepare)
    except LaunchError as exc:
        print(f"seccompat: {exc}", file=sys.stderr)
        return exc.status
