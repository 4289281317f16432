"""The agent runs on nodes with python3 alone: its modules import the standard library and the
agent package, nothing else (not the rest of kubeha, not a third-party package)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "wizard" / "agent"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_agent_imports_only_the_standard_library_and_itself():
    modules = sorted(AGENT.glob("*.py"))
    assert modules
    for path in modules:
        for name in imported(path):
            top = name.split(".")[0]
            ok = name == "wizard.agent" or name.startswith("wizard.agent.")
            ok = ok or (top in sys.stdlib_module_names and top != "wizard")
            assert ok, f"{path.name} imports {name}"
