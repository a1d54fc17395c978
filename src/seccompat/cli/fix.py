"""``seccompat fix``: rewrite a profile so calls it did not know get ENOSYS, with proof."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..profiles import parse_runtime
from ..profiles.fix import FixError, FixResult, fix
from ..profiles.model import read
from .output import UsageError, name_list, print_json
from .profile_args import add_libseccomp_arg, target_options, usage_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from .._json import JsonObject
    from .output import Subcommands

HELP = "rewrite a profile so calls it did not know get ENOSYS, keeping its deliberate denials"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("fix", help=HELP, description=HELP + ". The new profile keeps the "
                       "input's format and field order; the report proves that every call "
                       "keeps its verdict except the unknown ones, which now get ENOSYS.",
                       epilog="exit status: 0 written, 1 not fixable or the proof failed "
                              "(nothing written), 2 usage error or an unusable profile")
    p.add_argument("profile", metavar="PROFILE",
                   help="the OCI or Docker seccomp JSON (or OCI config.json) to fix")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="where to write the fixed profile ('-' for stdout)")
    p.add_argument("--runtime", metavar="R", help="the runtime that will load it (default: "
                   "current runc, behind current Docker for a Docker-format profile)")
    add_libseccomp_arg(p)
    p.add_argument("--arch", metavar="A", help="ABI to prove on (default: this machine's)")
    p.add_argument("--kernel", metavar="X.Y", help="host kernel for minKernel conditions")
    p.add_argument("--keep", action="append", default=[], metavar="NAME",
                   help="keep the default errno for this call although it has an ENOSYS "
                        "fallback (repeatable, or comma-separated)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="format of the report")
    p.set_defaults(handler=run)


def _report(result: FixResult, args: argparse.Namespace, written: bool) -> JsonObject:
    p = result.proof
    return {"profile": args.profile, "output": args.output if written else None,
            "strategy": result.strategy, "added_rules": result.added_rules,
            "warnings": result.warnings,
            "proof": {"configurations": p.configurations, "unchanged": p.unchanged,
                      "now_enosys": sorted(p.now_enosys),
                      "args_enosys": sorted(p.args_enosys), "mismatches": p.mismatches}}


def _print(result: FixResult, output: str | None, out: TextIO, quiet: bool = False) -> None:
    proof = result.proof
    print(f"strategy: {result.strategy}; {result.added_rules} rules added", file=out)
    for w in [] if quiet else result.warnings:
        print(f"warning: {w}", file=out)
    print(f"proof, under {'; '.join(proof.configurations)}:", file=out)
    print(f"  {proof.unchanged} verdicts unchanged", file=out)
    print(f"  {len(proof.now_enosys)} calls the profile did not know now get ENOSYS: "
          f"{', '.join(sorted(proof.now_enosys)) or '-'}", file=out)
    if proof.args_enosys:
        print(f"  {len(proof.args_enosys)} calls allowed for some arguments answer ENOSYS "
              f"for the others (their complement takes too many rules): "
              f"{', '.join(sorted(proof.args_enosys))}", file=out)
    print(f"  {len(proof.mismatches)} differences", file=out)
    for m in proof.mismatches[:20]:
        print(f"    {m}", file=out)
    if output:
        print(f"wrote {output}", file=out)


def _write(path: str, text: str, mode: int) -> None:
    """Write *text* to *path* atomically, with *mode* less the umask (that of the
    input profile: mkstemp's 0600 would hide a shared profile from its readers)."""
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, mode & 0o7777 & ~umask)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    keep = name_list(args.keep)
    abi, kernel = target_options(args)
    with usage_errors(args.profile):
        runtime = parse_runtime(args.runtime, args.libseccomp)
        text = read(args.profile)
        try:
            result = fix(text, runtime, target=abi, kernel=kernel, keep=keep)
        except FixError as exc:
            print(f"seccompat: {args.profile}: cannot fix: {exc}", file=sys.stderr)
            return 1
    ok = not result.proof.mismatches
    if ok:
        try:
            _write(args.output, result.text, os.stat(args.profile).st_mode)
        except OSError as exc:
            raise UsageError(f"{args.output}: {exc.strerror}") from None
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.format == "json":
        print_json(_report(result, args, ok), out)
    else:
        _print(result, args.output if ok else None, out, args.quiet)
    return 0 if ok else 1
