"""The public API is one documented surface: each public module's ``__all__`` is exactly
what docs/api.md lists for it, and every listed name exists."""

from __future__ import annotations

import importlib
import re

import pytest

from .kernel import ROOT

API = ROOT / "docs" / "api.md"


def _documented() -> dict[str, set[str]]:
    sections = re.split(r"^## (\S+)\n", API.read_text(), flags=re.M)[1:]
    return {module: set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\(|`)", body))
            for module, body in zip(sections[::2], sections[1::2], strict=True)}


DOCUMENTED = _documented()


@pytest.mark.parametrize("module", sorted(DOCUMENTED))
def test_exports_are_what_the_docs_list(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    documented = DOCUMENTED[module] & (exported | set(dir(mod)))
    assert exported == documented, (f"exported, not documented: {exported - documented}; "
                                    f"documented, not exported: {documented - exported}")
    for name in exported:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"


def test_every_public_package_is_documented() -> None:
    assert {"seccompat", "seccompat.calls", "seccompat.bpf", "seccompat.raw",
            "seccompat.policy", "seccompat.profiles", "seccompat.shim"} <= set(DOCUMENTED)
