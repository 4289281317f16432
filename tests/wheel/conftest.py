"""kubeha as users install it: a wheel built once per session from this tree, installed (not
editable) into fresh virtualenvs, one with the pinned versions of constraints.txt and one with
the lowest textual that pyproject.toml declares.

The build runs on a copy of the sources (no ``build/`` folder left in the tree, none reused);
pip's own cache keeps the installs to seconds after the first run on a machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from: the packages and what pyproject.toml names.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "wizard", "screens", "templates", "profiles")
PIP = ("-m", "pip", "--disable-pip-version-check", "-q")


def run(argv: Sequence[str | Path], timeout: float = 600, **kwargs) -> str:
    """Run a set-up step; on failure the test fails with the step's own output."""
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    return result.stdout


def lowest_textual() -> str:
    """The lowest textual version pyproject.toml declares (``textual>=X,<Y``)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(r"textual\b", d))
    found = re.search(r">=\s*([0-9][0-9.]*)", spec)
    assert found, f"{spec!r}: expected a lower bound (>=)"
    return found.group(1)


def make_venv(where: Path, wheel: Path, constraints: Path, *extra: str) -> Path:
    """A fresh virtualenv with the wheel (and ``extra`` packages) installed; its bin folder."""
    run([sys.executable, "-m", "venv", where])
    python = where / "bin" / "python"
    run([python, *PIP, "install", wheel, *extra, "-c", constraints])
    return where / "bin"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubeha-*.whl built from a copy of this tree, as ``pip wheel`` builds it for a user."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=skip)
        else:
            shutil.copy2(path, src / name)
    dist = base / "dist"
    run([sys.executable, *PIP, "wheel", "--no-deps", "-w", dist, src])
    (built,) = dist.glob("kubeha-*.whl")
    return built


@pytest.fixture(scope="session")
def wheel_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a virtualenv holding the wheel and the versions of constraints.txt."""
    return make_venv(tmp_path_factory.mktemp("venv") / "v", wheel, REPO / "constraints.txt")


@pytest.fixture(scope="session")
def lowest_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the wheel, the lowest textual pyproject.toml allows and pytest."""
    base = tmp_path_factory.mktemp("venv-lowest")
    pins = (REPO / "constraints.txt").read_text().splitlines()
    lowest = f"textual=={lowest_textual()}"
    constraints = base / "constraints.txt"
    constraints.write_text(
        "\n".join([*(p for p in pins if not re.match(r"textual==", p)), lowest]) + "\n"
    )
    return make_venv(base / "v", wheel, constraints, "pytest", "pytest-timeout", lowest)
