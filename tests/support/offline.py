"""Running the real ``kubeha`` with no network: in an empty network namespace (``unshare -n``),
so a test of connection code can never send a packet anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEEDS_UNSHARE = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare -n"
)


def kubeha_offline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kubeha ARGS`` in an empty network namespace, with a HOME of its own."""
    return subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "wizard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(tmp_path / "home")},
    )
