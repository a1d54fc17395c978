"""Shared fixtures.  The harness itself lives in ``tests/kernel.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from seccompat._classifier import clear_cache
from seccompat._proc import seccomp_mode


@pytest.fixture(scope="session", autouse=True)
def _machine_untouched() -> Iterator[None]:
    """Tests run as root against the real file system: the root directory must end
    the session as it began (once, a generated "/" was chmod-ed and an unscoped
    openat2 created /f: never again)."""
    def state() -> tuple[int, list[str]]:
        return os.stat("/").st_mode, sorted(os.listdir("/"))

    before = state()
    yield
    after = state()
    assert after == before, f"the test session changed the root directory: {before} -> {after}"


@pytest.fixture(scope="session", autouse=True)
def _private_filter_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``seccompat run --profile`` caches compiled programs under ~/.cache: the
    tests (and the commands they start) use a directory of their own instead."""
    saved = os.environ.get("SECCOMPAT_CACHE_DIR")
    os.environ["SECCOMPAT_CACHE_DIR"] = str(tmp_path_factory.mktemp("filter-cache"))
    yield
    if saved is None:
        del os.environ["SECCOMPAT_CACHE_DIR"]
    else:
        os.environ["SECCOMPAT_CACHE_DIR"] = saved


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    """Each test starts with an empty verdict cache (it is per thread)."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="session")
def no_filter() -> None:
    """Tests that need this process to be unfiltered (CI is) skip otherwise."""
    if seccomp_mode() != 0:
        pytest.skip("this test process already runs under a seccomp filter")


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs uid 0")
