"""Golden files: what every strategy renders, byte for byte.

Regenerate after an intended change with ``KUBEHA_UPDATE_GOLDEN=1 scripts/test tests/wizard/test_render_golden.py``
and read the diff before committing it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.render_cases import cases
from wizard.commands.profile_commands import write_plan
from wizard.render import build_plan
from wizard.render_out import MANIFEST

GOLDEN = Path(__file__).parents[1] / "golden"
CASES = cases()


def tree(root: Path) -> dict[str, str]:
    """Every rendered file; the render's manifest (which carries kubeha's version) aside."""
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_files_match_golden(case, tmp_path):
    out = tmp_path / case
    write_plan(build_plan(CASES[case]), out)
    golden = GOLDEN / case
    if os.environ.get("KUBEHA_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden, ignore=shutil.ignore_patterns(MANIFEST))
    assert tree(out) == tree(golden)


def test_render_is_deterministic():
    for profile in CASES.values():
        assert build_plan(profile) == build_plan(profile)
