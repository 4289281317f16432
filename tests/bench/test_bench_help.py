"""Every ``python -m bench.X`` that has a command line answers ``--help`` with its usage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
RUNNABLE = sorted(
    p.stem for p in BENCH.glob("*.py") if 'if __name__ == "__main__"' in p.read_text()
)


@pytest.mark.parametrize("module", ["__main__", *RUNNABLE])
def test_help_prints_the_usage(module) -> None:
    name = "bench" if module == "__main__" else f"bench.{module}"
    run = subprocess.run(
        [sys.executable, "-m", name, "--help"],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "usage" in run.stdout.lower() and "Traceback" not in run.stderr
