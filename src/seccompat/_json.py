"""The type of a JSON value, as ``json.loads`` returns one and ``json.dumps`` takes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = ["Json", "JsonObject"]

#: Read-only containers (covariant): a ``list[str]`` is a Json value.
Json: TypeAlias = "bool | int | float | str | Sequence[Json] | Mapping[str, Json] | None"
#: An object being built.
JsonObject: TypeAlias = "dict[str, Json]"
