"""The shape of the package: the library never imports the programs, and its modules import no cycle.

The import graph is read from the source with ``ast`` (every ``import`` and
``from ... import``, at module level and inside functions, which is where a
cycle hides), not by importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "apeltools"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path, top_level_only: bool) -> set[str]:
    """The apeltools modules that ``module`` imports (a name imported from a package is its
    submodule when there is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
    return {name for name in found if name in MODULES and name != module}


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    return {module: _imports(module, path, top_level_only) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a set of
    modules that import one another round a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_walk_sees_the_package():
    assert "apeltools.cli.main" in MODULES and "apeltools.api" in MODULES
    assert "apeltools.loader" in _graph(top_level_only=True)["apeltools.cli.load"]


def test_the_library_never_imports_the_programs():
    offending = sorted(f"{module} imports {target}" for module, targets in _graph(top_level_only=False).items()
                       if not module.startswith("apeltools.cli") for target in targets
                       if target == "apeltools.cli" or target.startswith("apeltools.cli."))
    assert offending == []


def test_module_level_imports_have_no_cycle():
    assert _cycles(_graph(top_level_only=True)) == []


def test_imports_inside_functions_hide_no_cycle():
    assert _cycles(_graph(top_level_only=False)) == []


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
