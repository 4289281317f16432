"""No import circle among the engine's modules (issue 27): an AST scan of every ``import`` in
wizard/engine, at the top of a module, inside a function and under ``TYPE_CHECKING`` alike (a
circle hidden from the interpreter is still one for the reader). Importing a module also
imports each package above it, so a package's ``__init__`` counts as imported by its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file, of every module in ``package`` under ``root``."""
    found = {}
    for path in (root / package.replace(".", "/")).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its file."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)  # a submodule
    found = set()
    for module in named:
        parts = module.split(".")
        for end in range(1, len(parts) + 1):  # the module and every package above it
            candidate = ".".join(parts[:end])
            if candidate in known and candidate != name:
                found.add(candidate)
    return found


def circles(root: Path, package: str) -> list[list[str]]:
    """Each set of modules of ``package`` that import each other (Tarjan's strongly connected
    components of more than one module, or one that imports itself)."""
    known = modules(root, package)
    graph = {name: sorted(imports(name, path, known)) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: no recursion limit on a large graph
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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
    return found


def test_the_engine_has_no_import_circle() -> None:
    assert circles(REPO, "wizard.engine") == []


def test_the_scan_sees_a_circle_inside_a_function_and_under_type_checking(tmp_path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
    )
    (package / "c.py").write_text("from .sub import d\n")
    (package / "sub" / "d.py").write_text("from .. import c\n")
    (package / "e.py").write_text("import pkg.a\n")  # imports a circle, is not in one
    assert circles(tmp_path, "pkg") == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]]


def test_a_package_init_importing_a_module_that_imports_a_sibling_is_a_circle(tmp_path) -> None:
    """Why wizard/engine/phases/__init__.py imports nothing: the lists live in order.py."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("from pkg.b import y\n")  # runs pkg/__init__ first
    (package / "b.py").write_text("y = 1\n")
    assert circles(tmp_path, "pkg") == [["pkg", "pkg.a"]]
