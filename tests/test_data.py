"""The repository stands on its own: every fixture is here, byte-exact as its MANIFEST
says, and nothing the tests, benchmarks, tools or build read lies outside it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from .kernel import ROOT

MANIFESTS = [ROOT / "tests" / "data" / "profiles" / "MANIFEST.md",
             ROOT / "tools" / "data" / "syscalls" / "MANIFEST.md"]


def _blob_id(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _rows(manifest: Path) -> list[dict[str, str]]:
    lines = [line for line in manifest.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.parent.name)
def test_every_fixture_is_byte_exact_and_listed(manifest: Path) -> None:
    rows = _rows(manifest)
    assert rows
    for row in rows:
        assert set(row) == {"file", "repository", "path", "commit", "blob", "licence"}
        assert re.fullmatch(r"[0-9a-f]{40}", row["commit"]), row
        assert row["licence"], row
        data = (manifest.parent / row["file"]).read_bytes()
        assert _blob_id(data) == row["blob"], f"{row['file']} differs from its source blob"
    listed = {row["file"] for row in rows} | {"MANIFEST.md"}
    present = {p.name for p in manifest.parent.iterdir()}
    assert present == listed, f"unlisted or missing: {present ^ listed}"


def test_nothing_reads_outside_the_repository() -> None:
    """No test, benchmark, tool, build or CI file refers to the shared folder beside
    our own checkouts, which users do not have."""
    offenders = []
    files = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py"),
             *ROOT.glob("tools/**/*.py"), ROOT / "Makefile", ROOT / ".ci" / "run",
             ROOT / "pyproject.toml", ROOT / "setup.py"]
    needle = "/".join(["..", "shared"])  # spelt so that this file does not match itself
    for path in files:
        text = path.read_text()
        if needle in text or re.search(r"parents?\[\d\]\s*/\s*[\"']shared", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
