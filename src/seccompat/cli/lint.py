"""``seccompat lint``: findings about a profile, as text, JSON or SARIF 2.1.0."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..profiles import load, parse_runtime
from ..profiles.lint import CHECKS, Finding, lint
from .output import print_json, table
from .profile_args import add_libseccomp_arg, caps_option, target_options, usage_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._json import JsonObject
    from .output import Subcommands

HELP = "report what in a seccomp profile breaks software or will not do what it says"
_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("lint", help=HELP, description=HELP + ". Codes: " + "; ".join(
        f"{code} {title}" for code, (_, title) in CHECKS.items()) + ".",
        epilog="exit status: 0 no errors or warnings (notes allowed), 1 findings, 2 usage "
               "error or an unusable profile")
    p.add_argument("profile", metavar="PROFILE",
                   help="the OCI or Docker seccomp JSON (or OCI config.json) to check")
    p.add_argument("--runtime", action="append", metavar="R",
                   help="check under this runtime too (repeatable; default: current runc, "
                        "behind current Docker for a Docker-format profile)")
    add_libseccomp_arg(p)
    p.add_argument("--arch", metavar="A", help="ABI to check (default: this machine's)")
    p.add_argument("--kernel", metavar="X.Y", help="host kernel for minKernel conditions")
    p.add_argument("--caps", default="default", metavar="default|all|LIST",
                   help="capabilities for includes/excludes (default: the engine's set)")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="a table (default), JSON, or SARIF 2.1.0 for code-scanning tools")
    p.set_defaults(handler=run)


def _sarif(path: str, findings: list[Finding]) -> JsonObject:
    level = {"error": "error", "warning": "warning", "note": "note"}
    uri = Path(path).as_posix()
    return {
        "$schema": _SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "seccompat", "version": __version__,
                "informationUri": "https://github.com/seccompat/seccompat",
                "rules": [{"id": code, "shortDescription": {"text": title},
                           "defaultConfiguration": {"level": level[sev]}}
                          for code, (sev, title) in CHECKS.items()]}},
            "results": [{
                "ruleId": f.code, "level": level[f.severity],
                "message": {"text": f"{f.message}. Fix: {f.fix}"},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri}},
                    "logicalLocations": [{"fullyQualifiedName": f.path, "kind": "member"}]}],
            } for f in findings]}],
    }


def run(args: argparse.Namespace) -> int:
    abi, kernel = target_options(args)
    with usage_errors(args.profile):
        runtimes = [parse_runtime(r, args.libseccomp) for r in args.runtime or [None]]
        profile = load(args.profile)
    caps = caps_option(args.caps, runtimes[0].engine)
    findings = lint(profile, runtimes, target=abi, kernel=kernel, caps=caps)
    if args.format == "sarif":
        print_json(_sarif(args.profile, findings))
    elif args.format == "json":
        print_json({"profile": args.profile, "arch": abi.name,
                    "findings": [{"code": f.code, "severity": f.severity, "path": f.path,
                                  "message": f.message, "fix": f.fix} for f in findings]})
    elif findings:
        table([[f.severity, f.code, f.path, f"{f.message}\n    fix: {f.fix}"]
               for f in findings], ["SEVERITY", "CODE", "PATH", "FINDING"])
    else:
        print(f"{args.profile}: no findings")
    return 1 if any(f.severity != "note" for f in findings) else 0
