"""Edit JSON text in place: set a member, append to an array, and leave every other
byte (layout, field order, number spelling) as the author wrote it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Span", "append_items", "set_member", "spans"]

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
            i = _skip(text, i + 1)
            while text[i] != "]":
                i = _skip(text, _skip_value(text, i))
                if text[i] == ",":
                    i = _skip(text, i + 1)
            i += 1
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


def _dump(value: Any, text: str, indent: str) -> str:
    dumped = json.dumps(value, indent=_unit(text), ensure_ascii=False)
    return dumped.replace("\n", "\n" + indent)


def set_member(text: str, obj: Path, key: str, value: Any, after: str | None = None) -> str:
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
        sep = "\n" + indent if text[anchor.key_start - 1] in " \t" else " "
        insert = f",{sep}{json.dumps(key)}: {_dump(value, text, indent)}"
        return text[:anchor.value_end] + insert + text[anchor.value_end:]
    start = where[obj].value_start
    indent = _line_indent(text, start) + _unit(text)
    insert = f"\n{indent}{json.dumps(key)}: {_dump(value, text, indent)},"
    return text[:start + 1] + insert + text[start + 1:]


def append_items(text: str, array: Path, items: list[Any]) -> str:
    """Append *items* to the array at *array*, in the layout of its elements."""
    if not items:
        return text
    span = spans(text)[array]
    body = text[span.value_start + 1: span.value_end - 1]
    key_indent = _line_indent(text, span.key_start)
    if body.strip():
        last = span.value_start + 1 + len(body.rstrip())
        first = span.value_start + 1 + (len(body) - len(body.lstrip()))
        indent = _line_indent(text, first) if "\n" in body else key_indent + _unit(text)
        insert = "".join(f",\n{indent}{_dump(item, text, indent)}" for item in items)
        return text[:last] + insert + text[last:]
    indent = key_indent + _unit(text)
    insert = ",".join(f"\n{indent}{_dump(item, text, indent)}" for item in items)
    return text[:span.value_start + 1] + insert + "\n" + key_indent + text[span.value_end - 1:]
