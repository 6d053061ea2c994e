"""The package's shape: no import cycle anywhere in harness/, no lazy-import workaround, no fake in
the runtime package, and a public API that imports.

The graph counts every import, at module level or inside a function (a cycle hidden in a function
is still a cycle), read from the source with ast so nothing is executed.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "harness"
# Files that run in other interpreters (the runtime image's environment, TorchServe workers,
# Locust processes) and so import nothing of the harness package.
FOREIGN = {"harness/runtimes/torchserve/wrapper", "harness/runtimes/torchserve/handlers", "harness/load/locustfile.py",
           "harness/storage/download.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if any(rel.startswith(f) for f in FOREIGN):
            continue
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from pkg import submodule` imports the submodule; `from mod import name` the module
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            candidates = submodules or [base]
        else:
            continue
        out |= {c for c in candidates if c in known and c != name}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_package():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # harness/__init__.py (the public API) imports submodules: a submodule importing a name from
    # `harness` itself would close a cycle through it, and is found here too.
    assert len(graph) > 50 and graph["harness.runner"], "the graph was read"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_lazy_import_workaround():
    """No module-level __getattr__ (PEP 562) standing in for an import that would cycle."""
    offenders = [name for name, path in _modules().items()
                 if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                        for n in ast.parse(path.read_text()).body)]
    assert offenders == []


def test_fakes_are_a_test_package_and_the_runtime_package_needs_no_aiohttp():
    assert not (PACKAGE / "fakes").exists()
    users = [name for name, path in _modules().items()
             if {"aiohttp", "tests"} & {n.split(".")[0] for n in _top_level_imports(path)}]
    assert users == []


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_the_public_api_imports_and_lists_what_it_exports():
    import harness

    assert sorted(harness.__all__) == sorted(set(harness.__all__))
    missing = [name for name in harness.__all__ if not hasattr(harness, name)]
    assert missing == []
    assert {"run_scenario", "load_scenario", "RunOptions", "Report", "load_report", "TARGET_NAMES"} <= set(harness.__all__)
