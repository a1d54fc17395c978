"""``seccompat run``: run a command under a filter that reproduces a container runtime."""
# ruff: noqa: E501 - the help's examples are whole command lines

from __future__ import annotations

import argparse
import sys

from .._filter_cache import store
from ..bpf import Action, CompileError, compile_filter, parse_errno
from ..bpf.insn import pack
from ..policy import container_filter, describe_denial
from ..syscalls import lookup, number_text, parse_version
from .output import UsageError, name_list
from .profile_args import add_profile_args, translated
from .run_cached import cache_key, launch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .output import Subcommands

HELP = "run a command under a seccomp filter, as a container runtime would"

_EPILOG = """\
examples:
  seccompat run --deny-newer-than 5.2 -- python3 -c 'import threading as t; t.Thread().start()'
      an EPERM-default profile written for Linux 5.2, as Docker 19.03's: clone3 (5.3) gets
      EPERM, and glibc >= 2.34 cannot start the thread (exit 1, RuntimeError)
  seccompat run --deny clone3 --errno ENOSYS -- python3 -c 'import threading as t; t.Thread().start()'
      the same call answered with ENOSYS: glibc falls back to clone (exit 0)
  seccompat run --profile moby-default-v20.10.0.json --runtime docker:20.10.0 -- seccompat probe clone3
      exactly the filter Docker 20.10.0 (with its runc 1.0.0-rc92) installs for that profile:
      clone3 filtered with EPERM (exit 0)
exit status: the command's own; 128+N if signal N killed it; 125 if seccompat failed;
126 if the command cannot be executed; 127 if it is not found
"""


def register(sub: Subcommands) -> None:
    p = sub.add_parser("run", help=HELP, description=HELP + ". The filter is installed in a "
                       "child process right before execve(2).", epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deny", action="append", default=[], metavar="NAME",
                   help="deny this syscall (repeatable, or comma-separated)")
    p.add_argument("--deny-newer-than", metavar="X.Y",
                   help="allow only syscalls that existed in Linux X.Y; deny the rest")
    p.add_argument("--errno", metavar="E", help="errno for denied calls: a name like EPERM "
                   "or ENOSYS, or a number (default EPERM)")
    p.add_argument("--action", choices=("errno", "kill", "kill-thread", "trap", "log"),
                   default="errno", help="what a denied call gets (default errno)")
    add_profile_args(p, profile="option")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="describe the filter on stderr before running")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command to run under the filter, after --")
    p.set_defaults(handler=run)


def _denied_action(args: argparse.Namespace) -> Action:
    if args.errno is not None and args.action != "errno":
        raise UsageError(f"--errno applies to --action errno, not --action {args.action}")
    if args.action == "errno":
        try:
            return Action.errno(parse_errno(args.errno or "EPERM"))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return Action.parse(args.action)


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no command given (seccompat run [OPTIONS] -- CMD ...)")
    if args.profile is not None:
        return _run_profile(args, command)
    if args.runtime is not None or args.kernel is not None or args.caps != "default" or \
            args.libseccomp is not None:
        raise UsageError("--runtime, --libseccomp, --kernel and --caps apply to --profile")
    newer_than = None
    if args.deny_newer_than is not None:
        try:
            newer_than = parse_version(args.deny_newer_than)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    deny = name_list(args.deny)
    action = _denied_action(args)
    try:
        flt = container_filter(deny=deny, newer_than=newer_than, action=action)
    except (LookupError, ValueError) as exc:
        raise UsageError(exc.args[0]) from None
    program = compile_filter(flt)
    if args.verbose:
        print(f"seccompat: {describe_denial(deny, newer_than, action)} "
              f"({len(program)} BPF instructions, ABIs: "
              f"{', '.join(p.arch.name for p in flt.policies)})", file=sys.stderr)
    return launch(command, pack(program))


def _run_profile(args: argparse.Namespace, command: list[str]) -> int:
    if args.deny or args.deny_newer_than or args.errno or args.action != "errno":
        raise UsageError("--profile replaces --deny, --deny-newer-than, --errno and --action")
    tr, _ = translated(args)
    try:
        program = compile_filter(tr.filter)
    except CompileError as exc:
        raise UsageError(f"{args.profile}: {exc}; the kernel refuses such a filter (a "
                         "runtime loading it fails too)") from None
    stub = ", ".join(f"{abi} above {number_text(top)}" for abi, top in tr.stub.items()) or "none"
    description = (f"{args.profile} as {tr.runtime.label()} installs it "
                   f"({len(program)} BPF instructions; ENOSYS stub: {stub})")
    for warning in [] if args.quiet else tr.warnings:  # shown once: cached runs do not repeat it
        print(f"seccompat: warning: {warning}", file=sys.stderr)
    if args.verbose:
        print(f"seccompat: {description}", file=sys.stderr)
    packed = pack(program)
    numbers = {name: lookup(name).number for name in ("seccomp", "prctl")}
    if args.libseccomp is None:  # the fast path takes no --libseccomp (host's can change)
        store(cache_key(args.profile, args.runtime, args.kernel, args.caps),
              (packed, tr.warnings, description, numbers))
    return launch(command, packed)
