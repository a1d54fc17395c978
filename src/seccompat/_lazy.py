"""Package exports loaded on first use (PEP 562), so that importing one submodule
(``seccompat run``'s fast path, the pytest plugin) does not load the rest."""

from __future__ import annotations

from collections.abc import Callable


def exports(package: str, namespace: dict[str, object], where: dict[str, str],
            ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for *package*: name -> submodule in *where*."""

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *where])

    return getattr_, dir_
