"""The compiled-program cache behind `seccompat run --profile`: hits, misses, what
invalidates an entry, when one is refused, and the fast path's fallbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seccompat import _filter_cache as filter_cache
from seccompat.cli.run_cached import _parse

from .kernel import PROFILES

PROFILE = PROFILES / "runc-testdata-seccomp_syscall_test2.json"
CHDIR = "import os\ntry:\n    os.chdir('/')\nexcept OSError as e:\n    print(e.errno)\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SECCOMPAT_CACHE_DIR", str(directory))
    return directory / "filters"


def _run(*args: str, profile: Path = PROFILE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seccompat", "run", "-v", "--profile",
                           str(profile), *args, "--", sys.executable, "-c", CHDIR],
                          capture_output=True, text=True, check=False)


def test_miss_then_hit_same_filter(cache: Path) -> None:
    first = _run()
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "6"  # ENXIO: test2's defaultErrnoRet
    assert "(cached)" not in first.stderr
    (entry,) = cache.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700
    second = _run()
    assert second.stdout.strip() == "6"
    assert "(cached)" in second.stderr


def test_options_and_profile_content_are_part_of_the_key(cache: Path, tmp_path: Path) -> None:
    _run()
    older = _run("--runtime", "runc:1.0.0-rc94")  # ignores defaultErrnoRet: EPERM
    assert older.stdout.strip() == "1"
    assert "(cached)" not in older.stderr
    assert "ignores defaultErrnoRet" in older.stderr
    again = _run("--runtime", "runc:1.0.0-rc94")
    assert "(cached)" in again.stderr
    assert "ignores defaultErrnoRet" in again.stderr  # warnings come back from the cache
    edited = tmp_path / "p.json"
    data = json.loads(PROFILE.read_text())
    data["defaultErrnoRet"] = 13
    edited.write_text(json.dumps(data))
    assert _run(profile=edited).stdout.strip() == "13"
    data["defaultErrnoRet"] = 22
    edited.write_text(json.dumps(data))
    changed = _run(profile=edited)
    assert changed.stdout.strip() == "22"
    assert "(cached)" not in changed.stderr
    assert len(list(cache.iterdir())) == 4


def test_entries_others_can_write_are_ignored(cache: Path) -> None:
    _run()
    (entry,) = cache.iterdir()
    os.chmod(entry, 0o622)
    assert "(cached)" not in _run().stderr
    os.chmod(entry, 0o600)
    os.chmod(cache, 0o777)
    try:
        assert "(cached)" not in _run().stderr
    finally:
        os.chmod(cache, 0o700)
    entry.write_bytes(b"\x00garbage")
    os.chmod(entry, 0o600)
    broken = _run()
    assert broken.stdout.strip() == "6"
    assert "(cached)" not in broken.stderr


def test_no_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECCOMPAT_NO_CACHE", "1")
    _run()
    assert not cache.exists()
    assert filter_cache.load("0" * 64) is None


@pytest.mark.parametrize(("argv", "fast"), [
    (["run", "--profile", "p", "--", "true"], True),
    (["run", "--profile=p", "--runtime=runc", "-v", "--caps", "all", "--", "true"], True),
    (["run", "--profile", "p", "true"], False),          # no "--": argparse's REMAINDER
    (["run", "--profile", "p", "--deny", "x", "--", "true"], False),
    (["run", "--profile", "p", "--profile", "q", "--", "true"], False),
    (["run", "--profile", "p", "--"], False),
    (["run", "--deny", "clone3", "--", "true"], False),
    (["probe", "--profile", "p", "--", "true"], False),
    (["run", "--profile"], False),
])
def test_fast_path_takes_only_the_plain_form(argv: list[str], fast: bool) -> None:
    assert (_parse(argv) is not None) == fast
