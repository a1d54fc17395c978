"""Session fixtures for the real engines: the probe binary, a scratch root with a short
path (daemon sockets), dockerd and containerd started once per worker and stopped by
their own pids, and a guard that nothing of ours is left running."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    Daemon,
    Engine,
    EngineFailed,
    _pids_mentioning,
    build_probe,
    installed,
    links_host_libseccomp,
)


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the container engines need root")
    path = Path(tempfile.mkdtemp(prefix="sx", dir="/tmp"))  # short: sockets live here
    try:
        yield path
    finally:
        left = _pids_mentioning(str(path))
        shutil.rmtree(path, ignore_errors=True)
        assert not left, f"processes left running under {path}: {left}"


@pytest.fixture(scope="session")
def probe(scratch: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the probe is built with gcc -static")
    return build_probe(scratch)


@pytest.fixture(scope="session")
def daemons(scratch: Path) -> Iterator[dict[str, Daemon]]:
    started: dict[str, Daemon] = {}
    try:
        yield started
    finally:
        for d in started.values():
            d.stop()


@pytest.fixture(scope="session")
def engine_table(scratch: Path) -> dict[str, tuple[str | None, str]]:
    return {name: (model, why) for name, model, why in installed(scratch)}


def get_engine(name: str, table: dict[str, tuple[str | None, str]], scratch: Path,
               daemons: dict[str, Daemon]) -> Engine:
    """The engine *name*, its daemon started on first use; skips when it is absent."""
    model, why = table[name]
    if model is None:
        pytest.skip(why)
    low = "crun" if name.endswith("crun") else "runc"
    engine = Engine(name, model, "host" if links_host_libseccomp(low) else None, scratch)
    if name in ("docker", "containerd"):
        if name not in daemons:
            daemon = Daemon(name, scratch / name)
            try:
                daemon.start()
            except EngineFailed as exc:
                daemon.stop()
                pytest.fail(f"{name}: {exc}")
            daemons[name] = daemon
        engine.daemon = daemons[name]
    return engine
