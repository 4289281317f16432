"""The built wheel holds every module and data file, and its installed ``kubeha`` validates,
renders and dry-runs every example profile, with the pinned versions and with the lowest ones
pyproject.toml allows.

``apply --dry-run`` would connect to the examples' documentation addresses: it runs under
``unshare -n`` (a network namespace of its own with no interface up) so nothing can leave this
machine whatever kubeha does, and must refuse the example addresses or fail to connect, never
crash.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import wizard
from tests.wheel.conftest import REPO, canonical, declared_dependencies, run

PACKAGE_DIRS = ("wizard", "screens", "templates", "profiles")
EXAMPLES = sorted(p.stem for p in (REPO / "profiles").glob("*.toml"))


def _tree_files() -> set[str]:
    files = set()
    for top in PACKAGE_DIRS:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(path.relative_to(REPO).as_posix())
    return files


def test_wheel_holds_every_file_of_the_packages_and_the_license(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(
            archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        )
    missing = _tree_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert "templates/ipvs/kubeha-ipvs-checker.sh" in names
    assert "wizard/strategies/local_nginx/nginx_build/__init__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Version"] == wizard.__version__
    required = {
        canonical(req.name)
        for req in map(Requirement, metadata.get_all("Requires-Dist"))
        if req.marker is None  # not an extra's (test)
    }
    assert required == {canonical(r.name) for r in declared_dependencies()}
    assert "Programming Language :: Python :: 3.11" in metadata.get_all("Classifier")
    assert "Apache License" in (REPO / "LICENSE").read_text()


def kubeha(bin_dir: Path, *args: str, cwd: Path, netns: bool = False, timeout: float = 120):
    argv = [str(bin_dir / "kubeha"), *args]
    if netns:
        argv = ["unshare", "-n", *argv]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_installed_not_editable_and_every_module_imports(any_bin: Path):
    python = any_bin / "python"
    where = run([python, "-c", "import wizard; print(wizard.__file__)"], cwd="/")
    assert "site-packages" in where and str(REPO) not in where
    script = (
        "import importlib, pkgutil\n"
        "for top in ('wizard', 'screens'):\n"
        "    package = importlib.import_module(top)\n"
        "    for info in pkgutil.walk_packages(package.__path__, top + '.'):\n"
        "        if not info.name.endswith('.__main__'):\n"
        "            importlib.import_module(info.name)\n"
        "        print(info.name)\n"
    )
    imported = set(run([python, "-c", script], cwd="/").split())
    assert {
        "wizard.strategies.local_nginx.nginx_build.build",
        "wizard.engine.apply",
        "screens.app",
    } <= imported


@pytest.fixture(scope="module")
def netns_ok(tmp_path_factory) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("unshare -n needs root: the dry runs are never run with a network")


@pytest.mark.parametrize("example", EXAMPLES)
def test_installed_kubeha_runs_every_example(example, any_bin: Path, tmp_path: Path, netns_ok):
    checked = kubeha(any_bin, "validate", example, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid" in checked.stdout

    out = tmp_path / "out"
    rendered = kubeha(any_bin, "render", example, "--out", str(out), cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert (out / "_cluster").is_dir() and len(list(out.rglob("*"))) > 5

    dry = kubeha(any_bin, "apply", example, "--dry-run", cwd=tmp_path, netns=True)
    output = dry.stdout + dry.stderr
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output
    assert dry.returncode != 0, output  # no network: refused, or every node failed to connect
    refused = "an example address" in output
    unreachable = any(
        word in output.lower() for word in ("unreachable", "network", "connect", "no route")
    )
    assert refused or unreachable, output
