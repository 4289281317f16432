"""The lowest textual that pyproject.toml declares really runs the wizard: the first screens'
Pilot tests (Start, Strategy, Nodes, Balancer, Preview) in a virtualenv holding exactly that
version. Older ones fail them: 0.80 has no textual.content, 0.89 to 3.0 refuse the stylesheet's
:first-child, 3.7 to 7.5 have no Select.NULL (the Nodes screen); 8.0 is the first that works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from packaging.version import Version

from tests.wheel.conftest import REPO, lowest_textual, run

FIRST_SCREENS = ("tests/screens/test_nodes_screen.py", "tests/screens/test_flow_screens.py")
SELECTED = "test_nodes_screen or preview"  # Start, Strategy, Nodes, Balancer; the Preview


def test_lowest_declared_textual_runs_the_first_screens(lowest_bin: Path):
    python = lowest_bin / "python"
    script = "import importlib.metadata as m; print(m.version('textual'))"
    installed = run([python, "-c", script], cwd="/").strip()
    assert Version(installed) == Version(lowest_textual())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not lab",
            "-k",
            SELECTED,
            *FIRST_SCREENS,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
