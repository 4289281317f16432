"""The sdist carries the whole project a packager or a tester needs: every tracked file under
tests/ (conftest, goldens, snapshots, helpers) and docs/, built as a PEP 517 frontend builds it
(setuptools' ``build_meta`` in a virtualenv of its own) from a copy of the tracked files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import wizard
from tests.wheel.conftest import PIP, REPO, run


def tracked(*tops: str) -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--", *tops],
        capture_output=True,
        timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files")
    return {name for name in listed.stdout.decode().split("\0") if name}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sdist")
    src = base / "src"
    for name in tracked():
        if (REPO / name).is_file():  # a file deleted in the work tree but not yet in git
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    for name in ("pyproject.toml", "MANIFEST.in"):  # as in the work tree, committed or not
        shutil.copy2(REPO / name, src / name)
    run([sys.executable, "-m", "venv", base / "v"])
    python = base / "v" / "bin" / "python"
    run([python, *PIP, "install", "setuptools>=77"])
    dist = base / "dist"
    script = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    run([python, "-c", script, dist], cwd=src)
    (built,) = dist.glob("kubeha-*.tar.gz")
    return built


def test_sdist_holds_every_tracked_test_and_doc(sdist: Path):
    top = f"kubeha-{wizard.__version__}/"
    assert sdist.name == f"kubeha-{wizard.__version__}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    wanted = tracked("tests", "docs")
    assert len([n for n in wanted if n.startswith("tests/")]) > 300
    missing = sorted(wanted - names)
    assert not missing, f"{len(missing)} tracked files not in the sdist: {missing[:20]}"
    assert {"tests/conftest.py", "README.md", "LICENSE", "constraints.txt"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
