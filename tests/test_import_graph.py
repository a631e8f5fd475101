"""The layers point one way, scripts -> vln -> {envs, agents}, and no module imports itself back.

Reads the sources (no import is executed): every ``import`` and ``from ... import``, at module
level and inside functions, is an edge of the import graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "agents", "vln")
# What each layer may import from the project (anything else: the standard library or dependencies).
ALLOWED = {"envs": {"envs"}, "agents": {"agents"}, "vln": {"vln", "envs", "agents"},
           "scripts": {"scripts", "vln", "envs", "agents"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + list((ROOT / "scripts").glob("*.py"))
    return {module_name(p): p for p in files if "__pycache__" not in p.parts}


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` (module ``name``) imports, function-level imports included."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            # ``from pkg import mod`` imports the submodule pkg.mod where there is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` of a package a.b: its __init__
                target = target.rpartition(".")[0]
            if target:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, name, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # vln.train imports agents inside a function (Keras starts only when a run needs it).
    assert "agents" in graph["vln.train"]
    assert "envs.nav_env" in graph["envs"]


def test_layers_point_one_way():
    back_edges = sorted(f"{src} imports {dst}" for src, dsts in import_graph().items() for dst in dsts
                        if dst.split(".")[0] not in ALLOWED[src.split(".")[0]])
    assert not back_edges, "imports against the layers scripts -> vln -> {envs, agents}:\n" + "\n".join(back_edges)


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
