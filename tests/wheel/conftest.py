"""kubeha as users install it: a wheel built once per session from this tree, installed (not
editable) into fresh virtualenvs, one with the pinned versions of constraints.txt and one with
the lowest version of every dependency that pyproject.toml declares (all at their floors at once).

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
from packaging.requirements import Requirement

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


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Tomli_W`` is ``tomli-w``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> list[Requirement]:
    return [
        Requirement(spec)
        for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    ]


def declared_floors() -> dict[str, str]:
    """{distribution: its lowest allowed version} for every dependency pyproject.toml declares;
    each must have a lower bound (``>=X``)."""
    floors = {}
    for req in declared_dependencies():
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{req}: expected one lower bound (>=)"
        floors[canonical(req.name)] = lows[0]
    return floors


def lowest_constraints() -> str:
    """A pip constraints file: ``name==floor`` for every declared dependency, and the pins of
    constraints.txt for everything else (what the floors pull in)."""
    floors = declared_floors()
    pins = [
        line
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if line.strip()
        and not line.startswith("#")
        and canonical(line.split("==")[0]) not in floors
    ]
    return "\n".join([*pins, *(f"{name}=={low}" for name, low in floors.items())]) + "\n"


def make_venv(
    where: Path, wheel: Path, constraints: Path, *extra: str, pip_options: Sequence[str] = ()
) -> Path:
    """A fresh virtualenv with the wheel (and ``extra`` packages) installed; its bin folder."""
    run([sys.executable, "-m", "venv", where])
    python = where / "bin" / "python"
    run([python, *PIP, "install", *pip_options, wheel, *extra, "-c", constraints])
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
    """A virtualenv with the wheel, the lowest version of every dependency pyproject.toml
    declares (wheels only: what a user's pip would install, no local builds) and pytest."""
    base = tmp_path_factory.mktemp("venv-lowest")
    constraints = base / "constraints.txt"
    constraints.write_text(lowest_constraints())
    return make_venv(
        base / "v",
        wheel,
        constraints,
        "pytest",
        "pytest-timeout",
        pip_options=("--only-binary", ":all:"),
    )


@pytest.fixture(scope="session", params=["pinned", "lowest"])
def any_bin(request: pytest.FixtureRequest) -> Path:
    """Each virtualenv in turn: the pinned versions, then the lowest allowed ones."""
    return request.getfixturevalue("wheel_bin" if request.param == "pinned" else "lowest_bin")
