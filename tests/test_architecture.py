"""The package's structure, as docs/architecture.md draws it: no import cycles (imports
inside functions included), and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

from .kernel import ROOT

SRC = ROOT / "src"
PACKAGE = SRC / "seccompat"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every seccompat module *path* imports, at module level or inside a function
    (``TYPE_CHECKING`` blocks aside: they do not run)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and \
                node.test.id == "TYPE_CHECKING":
            skipped |= {id(n) for sub in node.body for n in ast.walk(sub)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("seccompat")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("seccompat"):
                continue
            found.add(target)
            for alias in node.names:  # "from . import raw" imports a submodule
                candidate = f"{target}.{alias.name}"
                if (SRC / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                        (SRC / Path(*candidate.split(".")) / "__init__.py").exists():
                    found.add(candidate)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules["seccompat_pytest"] = SRC / "seccompat_pytest.py"
    edges = {}
    for name, path in modules.items():
        deps = set()
        for target in _imports(path):
            # Importing a.b.c runs a/__init__ and a.b/__init__ as well.
            parts = target.split(".")
            deps |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()
        deps.discard(name)
        edges[name] = deps
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _package_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` that only re-exports its own submodules lazily is a
    name space, not a dependency of them: drop the edge submodule -> its package."""
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in edges.items()}


def test_no_import_cycles() -> None:
    assert _cycles(_package_inits(graph())) == []


#: The layers of docs/architecture.md, lowest first: a module imports only from its own
#: layer or below.
LAYERS: list[tuple[str, ...]] = [
    ("seccompat.syscalls", "seccompat._lazy", "seccompat._files", "seccompat._fallbacks",
     "seccompat._capabilities", "seccompat._json", "seccompat.errors"),
    ("seccompat.raw", "seccompat._proc", "seccompat._forking"),
    ("seccompat.bpf",),
    ("seccompat.policy", "seccompat._probes", "seccompat._classifier", "seccompat._oracle",
     "seccompat._isolate", "seccompat._confirm"),
    ("seccompat.calls", "seccompat.shim", "seccompat.profiles", "seccompat._filter_cache",
     "seccompat._launch"),
    ("seccompat.cli", "seccompat.shim.__main__", "seccompat.__main__", "seccompat",
     "seccompat_pytest"),
]


def _layer(module: str) -> int:
    matches = [(len(prefix), i) for i, layer in enumerate(LAYERS) for prefix in layer
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer of docs/architecture.md"
    return max(matches)[1]  # the longest prefix decides


def test_layers_import_only_downwards() -> None:
    upward = [f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
              for m, deps in sorted(_package_inits(graph()).items()) for d in sorted(deps)
              if _layer(d) > _layer(m)]
    assert upward == []


def test_every_error_of_ours_derives_from_seccompat_error() -> None:
    """One base for the package's own errors, each also the builtin kind a caller
    catches (OSError, ValueError ...); no OSError of ours folds text into strerror."""
    import inspect
    import pkgutil

    import seccompat
    from seccompat.errors import SeccompatError

    errors = []
    for info in pkgutil.walk_packages(seccompat.__path__, "seccompat."):
        if info.name.endswith("__main__"):
            continue
        module = __import__(info.name, fromlist=["_"])
        errors += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                   if issubclass(obj, BaseException) and obj.__module__ == info.name
                   and not obj.__name__.startswith("_")]
    assert errors
    assert [e.__name__ for e in errors if not issubclass(e, SeccompatError)] == []
    from seccompat.calls import SyscallUnavailable

    exc = SyscallUnavailable("pidfd_open", None, "no emulation")
    assert (exc.errno, exc.strerror) == (38, "Function not implemented")
    assert "pidfd_open is unavailable: no emulation" in str(exc)
