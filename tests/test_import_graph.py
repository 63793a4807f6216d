"""The package's modules import one another without cycles: each file belongs to one step of the
flow, and a step never reaches back to an earlier one. Lazy imports inside functions count too
(a cycle through them is still a tangle, only one that breaks later)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "portraitcli"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package modules that the module `name` (file `path`) imports, at any depth of its code."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package upwards
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from package import module` names a module; `from module import name` the module
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        for target in targets:
            # the longest package module the target names (portraitcli.a.b.func -> portraitcli.a.b)
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(files)
    graph = {name: imports_of(path, name, modules) for name, path in files.items()}
    # importing a.b.c runs a/__init__ and a/b/__init__ first, but those edges are Python's, not
    # the code's: a package __init__ that imports nothing of its children adds no cycle
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_finder_sees_a_lazy_cycle(tmp_path):
    """The check itself: a cycle closed by an import inside a function is found."""
    pkg = tmp_path / "portraitcli"
    (pkg / "media").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "media" / "__init__.py").write_text("")
    (pkg / "media" / "a.py").write_text("from portraitcli.media import b\n")
    (pkg / "media" / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("from portraitcli.media.a import thing\n")
    graph = import_graph(pkg)
    assert graph["portraitcli.c"] == {"portraitcli.media.a"}
    assert find_cycle(graph) == ["portraitcli.media.a", "portraitcli.media.b", "portraitcli.media.a"]
    (pkg / "media" / "b.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(pkg)) is None


def test_package_imports_have_no_cycle():
    graph = import_graph(PACKAGE)
    assert "portraitcli.cli" in graph and len(graph) > 20
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
