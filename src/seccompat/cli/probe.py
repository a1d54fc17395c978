"""``seccompat probe``: which syscalls work in this process, and how we know."""

from __future__ import annotations

import argparse
import os

from .. import _proc as proc
from .._classifier import Verdict, classify
from .._isolate import classify_isolated
from .._probes import NEVER_PROBE, PROBES
from ..syscalls import known, lookup, native_arch
from .output import UsageError, errno_fields, print_json, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._json import JsonObject
    from .output import Subcommands

HELP = "show which syscalls work in this process and why"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("probe", help=HELP, description=HELP + (
        ". By default every syscall with a side-effect-free probe is checked "
        "(plus those that are never invoked), in this process when no seccomp filter "
        "is active and in a child process otherwise, so a KILL rule cannot take the "
        "probe down."))
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="syscall names or numbers of this ABI (default: every probed one)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="a table (default) or JSON")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--isolate", dest="isolate", action="store_const", const=True,
                      help="probe in a child process (default when a filter is active)")
    mode.add_argument("--in-process", dest="isolate", action="store_const", const=False,
                      help="probe in this process (default when no filter is active)")
    p.set_defaults(handler=run, isolate=None)


def default_names() -> list[str]:
    """Every probed or never-probed syscall that exists on this ABI, by number."""
    arch = native_arch()
    found = []
    for name in [*PROBES, *NEVER_PROBE]:
        try:
            found.append(lookup(name, arch))
        except LookupError:
            continue
    return [sc.name for sc in sorted(found, key=lambda s: s.number)]


def _check_names(requested: list[str]) -> list[str]:
    """The names to probe: names, or numbers of this ABI (as explain takes them)."""
    out = []
    for name in requested:
        try:
            if name.isdigit():
                out.append(lookup(int(name)).name)
                continue
            if not known(name):
                lookup(name)  # raises, with a suggestion
        except LookupError as exc:
            raise UsageError(exc.args[0]) from None
        out.append(name)
    return out


def _since(v: Verdict) -> str | None:
    return None if v.since is None else f"{v.since[0]}.{v.since[1]}"


def _row(v: Verdict) -> JsonObject:
    return {
        "name": v.name,
        "number": v.number,
        "since": _since(v),
        "status": v.status.value,
        **errno_fields(v.errno),
        "evidence": v.evidence,
    }


def run(args: argparse.Namespace) -> int:
    requested = _check_names(list(args.names)) or default_names()
    state = proc.process_state()
    isolate = args.isolate if args.isolate is not None else state.seccomp_mode != 0
    verdicts = classify_isolated(requested) if isolate else [classify(n) for n in requested]
    rows = [_row(v) for v in verdicts]
    arch = native_arch().name
    if args.format == "json":
        print_json({
            "kernel": os.uname().release,
            "arch": arch,
            "seccomp_mode": state.seccomp_mode,
            "seccomp_filters": -1 if state.seccomp_filters is None else state.seccomp_filters,
            "no_new_privs": state.no_new_privs,
            "isolated": isolate,
            "syscalls": rows,
        })
        return 0
    hints = proc.container_hints()
    count = state.seccomp_filters
    filters = "unknown filters" if count is None else f"{count} filter{'' if count == 1 else 's'}"
    mode = {0: "disabled", 1: "strict", 2: "filter"}.get(state.seccomp_mode, "?")
    print(f"kernel {os.uname().release}  arch {arch}  seccomp {mode} ({filters})  "
          f"no_new_privs {'yes' if state.no_new_privs else 'no'}")
    print(f"container: {', '.join(hints) if hints else 'no signs'}  probes run "
          f"{'in a child process' if isolate else 'in this process'}")
    print()
    table([[v.name, str(v.number if v.number is not None else "-"), _since(v) or "-",
            v.status.value, v.errno_name or "-", v.evidence] for v in verdicts],
          ["NAME", "NR", "SINCE", "STATUS", "ERRNO", "EVIDENCE"])
    return 0
