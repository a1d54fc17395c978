"""What a user downloads: the sdist builds, carries its docs and tests, and installs and
passes its own suite; the wheel is the package alone; no C compiler is no problem."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .kernel import ROOT

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: int = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT))
    return out


def _sdist(dist: Path) -> Path:
    (found,) = dist.glob("seccompat-*.tar.gz")
    return found


def test_the_sdist_carries_docs_tests_and_data(dist: Path) -> None:
    with tarfile.open(_sdist(dist)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for wanted in ("LICENSE", "README.md", "Makefile", "docs/compatibility.md",
                   "docs/how-the-probe-works.md", "tests/kernel.py",
                   "tests/data/profiles/MANIFEST.md",
                   "tests/data/profiles/moby-default-v20.10.0.json", "tools/gen_syscalls.py",
                   "tools/data/syscalls/libseccomp-syscalls.csv", "src/seccompat/_rawcall.c",
                   "src/seccompat/_rawcall.pyi", "src/seccompat/py.typed", "bench/bench_fix.py"):
        assert wanted in names, wanted
    assert not [n for n in names if n.endswith((".so", ".pyc")) or n.startswith(".venv")]


def test_the_wheel_is_the_package_alone(dist: Path) -> None:
    (wheel,) = dist.glob("seccompat-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"seccompat", "seccompat_pytest.py", *(t for t in tops if t.endswith(
        ".dist-info"))}, tops
    assert "seccompat/py.typed" in names
    assert "seccompat/_rawcall.pyi" in names
    assert any(n.startswith("seccompat/_rawcall") and n.endswith(".so") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if "/tests/" in n or n.endswith((".json", ".csv", ".md"))]


def test_without_a_c_compiler_it_installs_and_says_so(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    env = {**os.environ, "CC": "/bin/false", "LDSHARED": "/bin/false"}
    done = _run(str(venv / "bin" / "pip"), "install", "-v", "--no-cache-dir", str(_sdist(dist)),
                env=env)
    lines = [line for line in (done.stdout + done.stderr).splitlines()
             if "the C accelerator was not built" in line]
    assert len(set(lines)) == 1, lines
    got = _run(str(venv / "bin" / "python"), "-c",
               "import seccompat.raw as r; print(r.IMPLEMENTATION)", cwd=tmp_path)
    assert got.stdout.strip() == "ctypes"
    probe = _run(str(venv / "bin" / "seccompat"), "probe", "getrandom", cwd=tmp_path)
    assert "getrandom" in probe.stdout


def test_the_unpacked_sdist_passes_its_own_suite(dist: Path, tmp_path: Path) -> None:
    with tarfile.open(_sdist(dist)) as tar:
        tar.extractall(tmp_path, filter="data")
    (source,) = tmp_path.glob("seccompat-*")
    source.chmod(0o755)
    tmp_path.chmod(0o755)
    venv = source / ".venv"
    _run(sys.executable, "-m", "venv", str(venv))
    _run(str(venv / "bin" / "pip"), "install", "-q", "-e", f"{source}[test]")
    _run(str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "-m", "not slow", cwd=source, timeout=1500)
