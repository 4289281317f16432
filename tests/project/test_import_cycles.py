"""No import circle among kubeha's product modules, ``wizard/`` (the engine included) and
``screens/``: the core (profile, plan, validation) stands below the strategies, a strategy's own
parts (local-nginx's build) below the strategy, each engine phase below the job that runs it,
the wizard's step table below its screens.

Read from the source with ``ast``, so every import counts: at module level, inside functions and
under ``TYPE_CHECKING`` (a circle hidden from the interpreter is still one for the reader). An
import of ``a.b.c`` counts as an edge to ``a.b.c`` (or, for a name that is not a module, to the
module it comes from), and to every package above it that is not the importer's own: importing
a module runs its parents' ``__init__`` first."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("wizard", "screens")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules(roots: tuple[str, ...] = ROOTS) -> dict[str, Path]:
    return {module_name(p): p for root in roots for p in sorted((REPO / root).rglob("*.py"))}


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
            # The packages above it run first, except those the importer is inside of (Python
            # has already imported them to reach the importer).
            parent = target.rpartition(".")[0]
            while parent and not module.startswith(parent + ".") and parent != module:
                if parent in known:
                    yield parent
                parent = parent.rpartition(".")[0]


def import_graph(roots: tuple[str, ...] = ROOTS) -> dict[str, set[str]]:
    modules = product_modules(roots)
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
        "wizard.strategies",  # its package runs first
        "wizard.profile",
    }


def test_no_import_circle_among_the_product_modules() -> None:
    graph = import_graph()
    assert {"wizard.profile", "wizard.engine.apply", "screens.app"} <= set(graph)
    assert circles(graph) == []


def test_a_package_init_that_imports_a_module_importing_a_sibling_is_a_circle(
    tmp_path: Path,
) -> None:
    """``pkg/__init__`` imports ``pkg.a``; ``pkg.a`` imports ``pkg.b``... fine; but ``other.x``
    importing ``pkg.b`` runs ``pkg/__init__`` first: an edge to the package."""
    path = tmp_path / "x.py"
    path.write_text("from pkg.b import thing\n")
    known = {"pkg", "pkg.a", "pkg.b", "other.x"}
    assert set(imported("other.x", path, known)) == {"pkg.b", "pkg"}
    inner = tmp_path / "a.py"
    inner.write_text("from pkg.b import thing\n")
    assert set(imported("pkg.a", inner, known)) == {"pkg.b"}
