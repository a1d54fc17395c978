"""Output helpers shared by the subcommands: tables, JSON, the usage error."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import SeccompatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import TextIO, TypeAlias

    from .._json import Json

    #: What a subcommand's ``register`` adds its parser to.
    Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

__all__ = ["UsageError", "errno_fields", "name_list", "print_json", "table"]


class UsageError(SeccompatError):
    """Bad command-line input: printed as one line, exit status 2."""


def table(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO = sys.stdout) -> None:
    """Print aligned columns; the last column takes the rest of the line."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[-1])]).rstrip(), file=out)


def errno_fields(err: int | None) -> dict[str, int | str | None]:
    """The one JSON spelling of an errno, in every command: ``{"errno": 1,
    "errno_name": "EPERM"}`` (both None when there is none)."""
    from ..raw import errno_name  # (ctypes: not at every command's start-up)

    if err is None:
        return {"errno": None, "errno_name": None}
    return {"errno": err, "errno_name": errno_name(err)}


def name_list(values: Sequence[str]) -> list[str]:
    """A repeatable, comma-separated option's names: ``--deny a,b --deny c``."""
    return [name.strip() for item in values for name in item.split(",") if name.strip()]


def print_json(value: Json, out: TextIO = sys.stdout) -> None:
    import json

    json.dump(value, out, indent=2)
    out.write("\n")
