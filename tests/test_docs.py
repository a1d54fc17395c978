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


# --- the console examples: every command runs and shows what the text says ---------

_MACHINE = ("kernel ", "container:")  # lines that describe the machine, not the tool


def _console_examples() -> list[tuple[str, str, list[str]]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"^```console\n(.*?)^```", doc.read_text(), re.M | re.S):
            command: str | None = None
            expected: list[str] = []
            for line in [*block.splitlines(), "$ "]:
                if line.startswith("$ "):
                    if command and not command.startswith("pytest "):
                        found.append((f"{doc.name}: {command[:60]}", command, expected))
                    command, expected = line[2:].split("  #")[0].strip(), []
                elif line.strip():
                    expected.append(line)
    return found


CONSOLE = _console_examples()


def _words(line: str) -> str:
    return " ".join(line.split())


def _shows(expected: list[str], output: str) -> list[str]:
    """The expected lines that do not appear, in order, in *output* (spacing aside;
    machine-description lines only by their first word)."""
    lines = [_words(line) for line in output.splitlines()]
    missing, at = [], 0
    for want in expected:
        key = _words(want)
        machine = want.startswith(_MACHINE)
        for i in range(at, len(lines)):
            if lines[i] == key or (machine and lines[i].split(" ", 1)[0] == key.split(" ", 1)[0]):
                at = i + 1
                break
        else:
            missing.append(want)
    return missing


@pytest.fixture(scope="module")
def console_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The profiles the examples name, app.py as the README describes it, and
    python3/seccompat on PATH meaning this interpreter."""
    import shutil

    work = tmp_path_factory.mktemp("console")
    for profile in (ROOT / "tests" / "data" / "profiles").glob("*.json"):
        shutil.copy(profile, work)
    (work / "app.py").write_text(
        "import os, threading\n"
        "print('access:', os.access('/', os.R_OK, effective_ids=True))\n"
        "try:\n    threading.Thread(target=lambda: None).start()\n    print('thread: ok')\n"
        "except RuntimeError as e:\n    print('thread:', e)\n")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "seccompat").write_text(f"#!/bin/sh\nexec {sys.executable} -m seccompat \"$@\"\n")
    (bin_dir / "seccompat").chmod(0o755)
    return work


@pytest.mark.parametrize(("name", "command", "expected"), CONSOLE,
                         ids=[name for name, _, _ in CONSOLE])
def test_console_example_shows_what_it_says(name: str, command: str, expected: list[str],
                                            console_dir: Path) -> None:
    import os

    env = {**os.environ, "PATH": f"{console_dir / 'bin'}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(["bash", "-c", command], cwd=console_dir, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    missing = _shows(expected, done.stdout + done.stderr)
    assert missing == [], f"{name}\n$ {command}\n{done.stdout}{done.stderr}"


def _help_examples() -> list[tuple[str, str, int]]:
    """``seccompat CMD --help`` examples: a command line, then its description, which
    ends with the exit status it promises: ``(exit N ...)``."""
    from seccompat.cli import COMMANDS

    found = []
    for name in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "seccompat", name, "--help"],
                              capture_output=True, text=True, check=True)
        text = done.stdout
        if "examples:" not in text:
            continue
        body = text.split("examples:", 1)[1].split("exit status:", 1)[0]
        for example in re.split(r"\n(?=  seccompat )", body.strip("\n")):
            command, _, description = example.strip().partition("\n")
            status = re.search(r"\(exit (\d+)", description)
            assert status, f"seccompat {name} --help: {command!r} does not say its exit status"
            found.append((name, command.strip(), int(status.group(1))))
    return found


HELP_EXAMPLES = _help_examples()


@pytest.mark.parametrize(("name", "command", "status"), HELP_EXAMPLES,
                         ids=[c[:50] for _, c, _ in HELP_EXAMPLES])
def test_help_example_does_what_it_says(name: str, command: str, status: int,
                                        console_dir: Path) -> None:
    import os

    if "threading" in command:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        version = tuple(int(x) for x in re.findall(r"\d+", libc)[:2])
        if version < (2, 34):
            pytest.skip(f"{libc}: glibc before 2.34 starts threads with clone, not clone3")
    env = {**os.environ, "PATH": f"{console_dir / 'bin'}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(["bash", "-c", command], cwd=console_dir, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == status, f"$ {command}\n{done.stdout}{done.stderr}"
