"""The lowest versions pyproject.toml allows really run kubeha: a virtualenv holds every declared
dependency at its floor at once (tests/wheel/conftest.py's ``lowest_bin``), and there the tests
that reach each dependency pass: the certificate preflight (cryptography), the SSH layer
(paramiko, fabric, invoke), profiles read, saved and edited in place (tomli-w, tomlkit), the
golden renders (jinja2) and the wizard's screens (textual, rich). test_wheel.py runs the installed
``kubeha`` commands there too. Why each floor is what it is: the comments in pyproject.toml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from packaging.version import Version

from tests.wheel.conftest import REPO, declared_floors, run

# Each names the dependencies it is here for.
LOWEST_SUITE = (
    "tests/wizard/retrofit/test_cert_preflight.py",  # cryptography: verify_directly_issued_by
    "tests/wizard/engine/test_clients.py",  # the preflight inside an apply, on in-memory nodes
    "tests/wizard/engine/ssh/test_ssh_units.py",  # paramiko, fabric, invoke: connect, keys, sudo, errors
    "tests/wizard/test_profile_io.py",  # tomli-w
    "tests/wizard/test_profile_save.py",  # tomlkit: a profile edited in place, byte for byte
    "tests/wizard/test_render_golden.py",  # jinja2
    "tests/screens/test_nodes_screen.py",  # textual, rich: Start, Strategy, Nodes
    "tests/screens/test_flow_screens.py",  # Balancer, Preview, Summary
    "tests/screens/test_keys.py",  # the theme remembered: tomli_w.dump
)


def test_every_declared_dependency_is_at_its_floor(lowest_bin: Path):
    script = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))\n"
    )
    floors = declared_floors()
    installed = json.loads(run([lowest_bin / "python", "-c", script, *floors], cwd="/"))
    wrong = {n: v for n, v in installed.items() if Version(v) != Version(floors[n])}
    assert not wrong, f"installed instead of the floors {floors}: {wrong}"


def test_the_lowest_versions_pass_the_tests_that_reach_them(lowest_bin: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [
            lowest_bin / "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not lab",
            *LOWEST_SUITE,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
