"""No import circle among kubeha's product modules in ``wizard/`` (the engine, ``wizard.engine``,
is another engineer's and left out here): the core (profile, plan, validation) stands below the
strategies, and a strategy's own parts (local-nginx's build) below the strategy.

Read from the source with ``ast``, so every import counts: at module level, inside functions and
under ``TYPE_CHECKING``. An import of ``a.b.c`` counts as an edge to ``a.b.c`` (or, for a name that
is not a module, to the module it comes from); the parent packages Python imports on the way are
not edges, as import-linter counts them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = ("wizard.engine",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules(root: str = "wizard") -> dict[str, Path]:
    found = {module_name(p): p for p in sorted((REPO / root).rglob("*.py"))}
    return {
        name: path
        for name, path in found.items()
        if not any(name == out or name.startswith(out + ".") for out in LEFT_OUT)
    }


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every product module that ``module`` imports anywhere in its source."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, path, node)
            targets = [f"{source}.{alias.name}" for alias in node.names]
            targets = [t if t in known else source for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target


def import_graph(root: str = "wizard") -> dict[str, set[str]]:
    modules = product_modules(root)
    known = set(modules)
    return {name: set(imported(name, path, known)) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def test_the_scan_sees_a_circle_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_scan_counts_imports_in_functions_and_under_type_checking(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from wizard.plan import RenderPlan\n"
        "def f():\n    from wizard.strategies import registry\n    import wizard.profile\n"
    )
    path = tmp_path / "x.py"
    path.write_text(source)
    known = {"wizard.plan", "wizard.strategies", "wizard.strategies.registry", "wizard.profile"}
    assert set(imported("wizard.x", path, known)) == {
        "wizard.plan",
        "wizard.strategies.registry",
        "wizard.profile",
    }


def test_no_import_circle_among_the_product_modules() -> None:
    graph = import_graph()
    assert "wizard.profile" in graph and "wizard.engine.apply" not in graph
    assert circles(graph) == []
