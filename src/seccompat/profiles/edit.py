"""Edit JSON text in place: set a member, append to an array, and leave every other
byte (layout, field order, number spelling) as the author wrote it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .._json import Json

__all__ = ["Span", "append_items", "set_in_elements", "set_member", "spans"]

Path = tuple[str, ...]
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Span:
    """Where an object member is: its key's first byte, its value's bounds."""

    key_start: int
    value_start: int
    value_end: int


def spans(text: str) -> dict[Path, Span]:
    """Every member reachable through objects only (``("linux", "seccomp")``), and
    ``()`` for the top-level value (``value_start``/``value_end``)."""
    out: dict[Path, Span] = {}

    def value(i: int, path: Path, key_start: int) -> int:
        i = _skip(text, i)
        start = i
        ch = text[i]
        if ch == "{":
            i = _skip(text, i + 1)
            while text[i] != "}":
                k_start = i
                key, i = _DECODER.raw_decode(text, i)
                i = _skip(text, i)
                assert text[i] == ":"
                i = _skip(text, value(i + 1, (*path, key), k_start))
                if text[i] == ",":
                    i = _skip(text, i + 1)
            i += 1
        elif ch == "[":
            i = _elements(text, i)[1] + 1
        else:
            i = _skip_value(text, i)
        out[path] = Span(key_start, start, i)
        return i

    value(0, (), 0)
    return out


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _skip_value(text: str, i: int) -> int:
    """The end of the JSON value starting at *i*."""
    end: int = _DECODER.raw_decode(text, i)[1]
    return end


def _elements(text: str, i: int) -> tuple[list[tuple[int, int]], int]:
    """The bounds of each element of the array whose "[" is at *i*, and where its "]"
    is."""
    bounds = []
    i = _skip(text, i + 1)
    while text[i] != "]":
        end = _skip_value(text, i)
        bounds.append((i, end))
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
    return bounds, i


def _line_indent(text: str, i: int) -> str:
    start = text.rfind("\n", 0, i) + 1
    line = text[start:i]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _unit(text: str) -> str:
    """The file's indentation step (a tab, or some spaces); two spaces if none."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            lead = line[: len(line) - len(stripped)]
            return "\t" if lead.startswith("\t") else lead
    return "  "


def _dump(value: Json, unit: str, indent: str) -> str:
    dumped = json.dumps(value, indent=unit, ensure_ascii=False)
    return dumped.replace("\n", "\n" + indent)


def set_member(text: str, obj: Path, key: str, value: Json, after: str | None = None) -> str:
    """Set ``obj.key`` to *value*: in place if present, else right after member
    *after* (or first in the object)."""
    where = spans(text)
    member, anchor_path = (*obj, key), (*obj, after or "")
    if member in where:
        span = where[member]
        return text[:span.value_start] + json.dumps(value, ensure_ascii=False) + \
            text[span.value_end:]
    if after is not None and anchor_path in where:
        anchor = where[anchor_path]
        indent = _line_indent(text, anchor.key_start)
        on_own_line = not text[text.rfind("\n", 0, anchor.key_start) + 1:anchor.key_start].strip()
        sep = "\n" + indent if on_own_line else " "
        insert = f",{sep}{json.dumps(key)}: {_dump(value, _unit(text), indent)}"
        return text[:anchor.value_end] + insert + text[anchor.value_end:]
    start = where[obj].value_start
    indent = _line_indent(text, start) + _unit(text)
    insert = f"\n{indent}{json.dumps(key)}: {_dump(value, _unit(text), indent)},"
    return text[:start + 1] + insert + text[start + 1:]


def append_items(text: str, array: Path, items: Sequence[Json]) -> str:
    """Append *items* to the array at *array*, in the layout of its elements."""
    if not items:
        return text
    span = spans(text)[array]
    unit = _unit(text)
    body = text[span.value_start + 1: span.value_end - 1]
    key_indent = _line_indent(text, span.key_start)
    if body.strip():
        last = span.value_start + 1 + len(body.rstrip())
        first = span.value_start + 1 + (len(body) - len(body.lstrip()))
        indent = _line_indent(text, first) if "\n" in body else key_indent + _unit(text)
        insert = "".join(f",\n{indent}{_dump(item, unit, indent)}" for item in items)
        return text[:last] + insert + text[last:]
    indent = key_indent + _unit(text)
    insert = ",".join(f"\n{indent}{_dump(item, unit, indent)}" for item in items)
    return text[:span.value_start + 1] + insert + "\n" + key_indent + text[span.value_end - 1:]


def set_in_elements(text: str, array: Path, indexes: set[int], key: str, value: Json,
                    after: str | None = None) -> str:
    """Set *key* to *value* (as :func:`set_member`) in each object element of the
    array at *array* whose position is in *indexes*: one pass over the text, the
    other elements skipped at the JSON decoder's speed."""
    bounds, _ = _elements(text, spans(text)[array].value_start)
    pieces, last = [], 0
    for index, (start, end) in enumerate(bounds):
        if index in indexes:
            # The element alone, indented as in the file: its first line starts at "{".
            element = _line_indent(text, start) + text[start:end]
            edited = set_member(element, (), key, value, after=after)
            pieces += [text[last:start], edited[len(element) - len(text[start:end]):]]
            last = end
    return "".join([*pieces, text[last:]])
