"""The package's import graph (module-level and function-level imports) has no cycle, and nothing imports the CLI.

Dependencies point down (docs/architecture.md): cli -> commands/callbacks/module -> depth/data/eval/analysis/generation
-> model -> kernels. A cycle means two modules depend on each other, which that layering rules out.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

PACKAGES = ("lightning_iter", "lightning_iter.kernels")  # kernels lives in its own folder (pyproject package-dir)


def package_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, with its source file (a package is its `__init__.py`).

    Found like `pkgutil.walk_packages`, but without importing the subpackages: an import cycle that breaks
    a package's import must not hide that package's modules from the graph.
    """
    found: dict[str, Path] = {}

    def walk(name: str, folders: list[str]) -> None:
        for info in pkgutil.iter_modules(folders, prefix=f"{name}."):
            folder = Path(info.module_finder.path) / info.name.rpartition(".")[2]
            found[info.name] = folder / "__init__.py" if info.ispkg else folder.with_suffix(".py")
            if info.ispkg:
                walk(info.name, [str(folder)])

    for name in PACKAGES:
        spec = importlib.util.find_spec(name)  # locates the package; runs no code of it but its parents'
        found[name] = Path(spec.origin)
        walk(name, list(spec.submodule_search_locations))
    return found


def _base(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of `level` dots inside `module` starts from."""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The package modules `module` imports anywhere in its file, relative imports resolved."""
    edges: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, is_package, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            submodules = {f"{source}.{alias.name}" for alias in node.names} & modules
            edges |= submodules
            # `from P import submodule` needs nothing of P's __init__ when P is already being imported (an
            # ancestor of `module`); any other `from X import name` runs (and so depends on) X.
            ancestor = module == source or module.startswith(f"{source}.")
            if len(submodules) < len(node.names) or not ancestor:
                edges.add(source)
    return {edge for edge in edges if edge in modules and edge != module}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    names = set(modules)
    return {module: imports_of(module, path, names) for module, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest closed path from the group's first module back to itself, inside the group (breadth first)."""
    start = min(group)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def test_every_module_is_found():
    modules = package_modules()
    assert {"lightning_iter.cli", "lightning_iter.data.manifest", "lightning_iter.kernels.dispatch"} <= modules.keys()
    assert all(path.is_file() for path in modules.values())


def test_relative_imports_resolve_to_modules_and_packages(tmp_path):
    names = {"p", "p.a", "p.a.b", "p.c", "p.sub", "p.sub.x"}
    path = tmp_path / "probe.py"
    path.write_text("from . import c\nfrom .a import b\nfrom .sub import thing\nimport p.c\n")
    assert imports_of("p.d", path, names) == {"p.c", "p.a", "p.a.b", "p.sub"}
    path.write_text("def f():\n    from .. import a\n    from ..sub import thing\n")
    assert imports_of("p.sub.x", path, names) == {"p.a", "p.sub"}
    init = tmp_path / "__init__.py"
    init.write_text("from .a import b\n")
    assert imports_of("p", init, names) == {"p.a", "p.a.b"}


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_imports_the_cli():
    graph = import_graph()
    importers = sorted(module for module, edges in graph.items() if "lightning_iter.cli" in edges)
    assert not importers, f"lightning_iter.cli is the entry point, yet imported by {importers}"
