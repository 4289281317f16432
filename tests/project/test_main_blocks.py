"""A module run with ``python -m`` (scripts/test runs ``wizard.lab.kube_build`` so on a fresh
machine) runs its ``if __name__ == "__main__":`` block as it meets it: a function defined below
that block does not exist yet, and the command dies with a NameError (it did: the lab's
Kubernetes build on a fresh machine). So that block is the last statement of every module."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("wizard", "screens", "bench", "scripts")


def _is_main_block(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    texts = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and texts == {"__main__"}


def test_a_main_block_is_the_last_statement_of_its_module():
    late = []
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            body = ast.parse(path.read_text(), str(path)).body
            for at, node in enumerate(body):
                if _is_main_block(node) and at != len(body) - 1:
                    late.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not late, f"statements after `if __name__ == '__main__':` in {late}"
