"""The Python examples in README.md and docs/ run, as written: with the kernel, and
under a Docker-like EPERM profile for Linux 3.16 where the new calls fall back."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        blocks = re.findall(r"^```python\n(.*?)^```", doc.read_text(), re.M | re.S)
        found += [(f"{doc.name}#{i}", block) for i, block in enumerate(blocks, 1)]
    return found


EXAMPLES = _examples()


def test_there_are_examples() -> None:
    assert any(name.startswith("README.md") for name, _ in EXAMPLES)


@pytest.mark.parametrize("under", ["kernel", "eperm-3.16"])
@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs(name: str, code: str, under: str) -> None:
    command = [sys.executable, "-c", code]
    if under != "kernel":
        command = [sys.executable, "-m", "seccompat", "run", "--deny-newer-than", "3.16",
                   "--errno", "EPERM", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{name} under {under}:\n{done.stderr}"
