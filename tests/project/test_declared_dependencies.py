"""Every third-party distribution that wizard/ (the lab too: it ships in the wheel) and screens/
import is declared in pyproject.toml's [project] dependencies, and every one declared is imported.

An import of an undeclared distribution works here (the test extra or a neighbour pulls it in)
and breaks a user's install, or picks a version nobody tested: cryptography came through paramiko
at 39, and the certificate preflight needs 40. The imports are read from the source (AST), so a
lazy import inside a function counts as well.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("wizard", "screens")
FIRST_PARTY = {"wizard", "screens", "templates", "profiles"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonical(Requirement(spec).name) for spec in deps}


def imported_modules() -> dict[str, set[str]]:
    """{top-level module: the files importing it} for every absolute, non-stdlib import."""
    found: dict[str, set[str]] = {}
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    module = name.partition(".")[0]
                    if module in sys.stdlib_module_names or module in FIRST_PARTY:
                        continue
                    found.setdefault(module, set()).add(path.relative_to(REPO).as_posix())
    return found


def test_every_imported_distribution_is_declared_and_every_declared_one_imported():
    modules = imported_modules()
    owners = importlib.metadata.packages_distributions()
    unknown = {m: sorted(files) for m, files in modules.items() if m not in owners}
    assert not unknown, f"imported but installed by no distribution: {unknown}"
    used = {canonical(dist): m for m in modules for dist in owners[m]}
    undeclared = {
        dist: sorted(modules[module]) for dist, module in used.items() if dist not in declared()
    }
    assert not undeclared, (
        "imported by wizard/ or screens/ but not in pyproject.toml's [project] dependencies "
        f"(declare each with a tested floor): {undeclared}"
    )
    unused = declared() - set(used)
    assert not unused, f"declared but imported by neither wizard/ nor screens/: {sorted(unused)}"


def test_the_scan_sees_lazy_imports_and_the_lab():
    modules = imported_modules()
    assert "wizard/templating.py" in modules["jinja2"]  # imported inside a function
    assert any(f.startswith("wizard/lab/") for f in modules["tomli_w"])
    assert "screens/widgets/file_view.py" in modules["rich"]
