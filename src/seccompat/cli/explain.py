"""``seccompat explain``: what each syscall gets under a profile, and why."""

from __future__ import annotations

import argparse

from ..bpf.insn import RET
from ..bpf.ir import Action
from ..profiles import Explanation, Translation, describe, explain
from ..profiles.explain import condition_text
from ..syscalls import arch, number_text
from .output import UsageError, errno_fields, print_json, table
from .profile_args import add_profile_args, translated

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._json import JsonObject
    from .output import Subcommands

HELP = "explain what every syscall gets under a seccomp profile, and why"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("explain", help=HELP, description=HELP + ", as a given runtime installs "
                       "it (engine conversion, runc's ENOSYS stub, dropped names).",
                       epilog="exit status: 0, or 2 for a usage error or an unusable profile")
    add_profile_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="a table (default) or JSON")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="syscall names or numbers (default: every syscall of the ABI)")
    p.set_defaults(handler=run)


def _action_json(action: Action | None) -> JsonObject | None:
    if action is None:
        return None
    kind = str(action).split("(")[0].lower()
    out: JsonObject = {"action": kind, "text": describe(action)}
    if action.kind == RET.ERRNO:
        out.update(errno_fields(min(action.data, 4095)))
    return out


def explanation_json(e: Explanation) -> JsonObject:
    return {"name": e.name, "number": e.number, "verdict": e.verdict,
            "result": _action_json(e.action), "why": e.why,
            "branches": [{"conditions": [condition_text(c) for c in b.conditions],
                          "result": _action_json(b.action), "rule": b.where}
                         for b in e.branches],
            "otherwise": _action_json(e.otherwise), "dropped": [str(d) for d in e.dropped]}


def verdict_text(e: Explanation) -> str:
    """The verdict on one line, the argument branches included."""
    if e.action is not None:
        return e.verdict
    parts = [f"if {' && '.join(condition_text(c) for c in b.conditions)}: {describe(b.action)}"
             for b in e.branches]
    if e.otherwise is not None:
        parts.append(f"otherwise {describe(e.otherwise)}")
    return "; ".join(parts)


def _header(tr: Translation, abi_name: str, source: str, quiet: bool) -> list[str]:
    lines = [f"profile {source} as {tr.runtime.label()} installs it on {abi_name}"]
    for abi, top in tr.stub.items():
        lines.append(f"ENOSYS stub on {abi}: numbers above {number_text(top)}")
    lines += [] if quiet else [f"warning: {w}" for w in tr.warnings]
    return lines


def run(args: argparse.Namespace) -> int:
    tr, abi = translated(args)
    try:
        result = explain(tr, abi, args.names or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        print_json({"profile": args.profile, "runtime": tr.runtime.label(), "arch": abi.name,
                    "stub": tr.stub, "warnings": tr.warnings,
                    "syscalls": [explanation_json(e) for e in result]})
        return 0
    for line in _header(tr, arch(abi).name, args.profile, args.quiet):
        print(line)
    print()
    rows = []
    for e in result:
        rows.append([e.name, str(e.number), e.verdict, e.why])
        for b in e.branches:
            rows.append(["", "", f"  if {' && '.join(condition_text(c) for c in b.conditions)}",
                         f"{describe(b.action)} ({b.where})"])
        if e.otherwise is not None:
            rows.append(["", "", "  otherwise", describe(e.otherwise)])
    table(rows, ["NAME", "NR", "VERDICT", "WHY"])
    return 0
