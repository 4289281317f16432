"""The wheel's own ``kubeha`` deploys to the lab: ``apply --yes``, ``verify`` (plain and
``--json``) and ``uninstall --yes`` of the lab's local-nginx profile, from the installed command
in its own virtualenv, exactly as an operator who pip-installed kubeha would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.labkit import lab_profile, uninstall
from tests.wheel.test_wheel import kubeha
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab_file(lab, tmp_path_factory) -> Path:
    """The lab's local-nginx profile as a file; the lab clean before and after."""
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    path = save_profile(
        lab_profile(lab, "local-nginx"), tmp_path_factory.mktemp("wheel-lab") / "lab.toml"
    )
    yield path
    uninstall(lab_profile(lab, "local-nginx"))


def test_wheel_kubeha_applies_verifies_and_uninstalls_on_the_lab(
    lab_file: Path, wheel_bin: Path, tmp_path: Path
):
    applied = kubeha(wheel_bin, "apply", str(lab_file), "--yes", cwd=tmp_path, timeout=600)
    output = applied.stdout + applied.stderr
    assert applied.returncode == 0, output
    assert "Traceback" not in output

    verified = kubeha(wheel_bin, "verify", str(lab_file), cwd=tmp_path, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    as_json = kubeha(wheel_bin, "verify", str(lab_file), "--json", cwd=tmp_path, timeout=300)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    (line,) = as_json.stdout.splitlines()
    result = json.loads(line)
    assert result["ok"] is True and result["schema_version"] == 1 and result["kind"] == "verify"

    removed = kubeha(wheel_bin, "uninstall", str(lab_file), "--yes", cwd=tmp_path, timeout=600)
    assert removed.returncode == 0, removed.stdout + removed.stderr
