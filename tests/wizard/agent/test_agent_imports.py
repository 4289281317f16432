"""The agent runs on nodes with python3 alone: its modules import the standard library and the
agent package, nothing else (not the rest of kubeha, not a third-party package)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[3] / "wizard" / "agent"


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


# Library calls newer than python 3.9 that an agent module must not make (syntax newer than 3.9
# is caught by parsing with feature_version below).
NEWER_THAN_39 = (
    "StrEnum",
    "strict=",
    "removesuffix(",
    "tomllib",
    "kw_only",
    "slots=True",
    "TypeAlias",
    "ParamSpec",
    "ExceptionGroup",
    "datetime.UTC",
    "except TimeoutError",  # socket.timeout is TimeoutError only from 3.10: it would not catch
)


def test_the_agent_runs_on_python_3_9():
    for path in sorted(AGENT.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        ast.parse(text, feature_version=(3, 9))
        for name in NEWER_THAN_39:
            assert name not in text, f"{path.name} uses {name} (python 3.10 or later)"
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                second = node.args[1] if len(node.args) > 1 else None
                assert not isinstance(second, ast.BinOp), f"{path.name}: isinstance(x, A | B)"
