"""``seccompat run --profile P -- CMD``'s fast path: a cached program, no compiler.

Taken before argparse and the subcommands are even imported, for the plain form
(``--profile``, ``--runtime``, ``--kernel``, ``--caps``, ``-v``, then ``--`` and the
command); anything else, or a cache miss, goes the full way, which fills the cache.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._filter_cache import key, load

_OPTIONS = ("--profile", "--runtime", "--kernel", "--caps")


def _parse(argv: Sequence[str]) -> tuple[dict[str, str], bool, list[str]] | None:
    if not argv or argv[0] != "run":
        return None
    values: dict[str, str] = {}
    verbose = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            command = list(argv[i + 1:])
            return (values, verbose, command) if "--profile" in values and command else None
        if arg in ("-v", "--verbose"):
            verbose, i = True, i + 1
            continue
        if arg in ("-q", "--quiet"):
            i += 1  # the cached path prints nothing but -v's description anyway
            continue
        name, eq, value = arg.partition("=")
        if name not in _OPTIONS or name in values or (not eq and i + 1 >= len(argv)):
            return None
        if not eq:
            value, i = argv[i + 1], i + 1
        values[name] = value
        i += 1
    return None


def launch(command: list[str], program: bytes) -> int:
    """Install *program* in a child right before it execs *command*: run's exit codes."""
    from .._launch import LaunchError, run_command
    from ..bpf.load import install

    try:
        return run_command(command, lambda: install(program))
    except LaunchError as exc:
        print(f"seccompat: {exc}", file=sys.stderr)
        return exc.status


def cache_key(profile: str, runtime: str | None, kernel: str | None, caps: str | None) -> str:
    """The key both paths use ("default" capabilities spelled either way)."""
    return key(profile, runtime, kernel, None if caps in (None, "default") else caps)


def try_cached(argv: Sequence[str]) -> int | None:
    """The command's exit status, or None when the full path must run."""
    parsed = _parse(argv)
    if parsed is None:
        return None
    values, verbose, command = parsed
    try:
        entry = load(cache_key(values["--profile"], values.get("--runtime"),
                               values.get("--kernel"), values.get("--caps")))
    except (OSError, ValueError):
        return None  # the full path reports it (an unreadable or refused profile)
    if entry is None:
        return None
    program, warnings, description, numbers = entry
    # The translation's warnings were printed by the run that made this entry: once
    # per profile and options.  -v shows them again.
    for warning in warnings if verbose else ():
        print(f"seccompat: warning: {warning}", file=sys.stderr)
    if verbose:
        print(f"seccompat: {description} (cached)", file=sys.stderr)
    from ..raw import known_numbers

    known_numbers(numbers)
    return launch(command, program)
