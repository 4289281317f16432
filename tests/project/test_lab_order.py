"""The lab modules' order (tests/support/lab_shapes.py): the modules that need the same kind of
lab run one after the other, so one bring-up serves them all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def collected_modules() -> list[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--co",
            "-q",
            "-m",
            "lab",
            "-p",
            "no:cacheprovider",
            "tests/lab",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    modules: list[str] = []
    for line in out.splitlines():
        if "::" in line:
            module = line.split("::")[0]
            if not modules or modules[-1] != module:
                modules.append(module)
    return modules


def test_each_kind_of_lab_is_brought_up_once_for_its_modules():
    modules = collected_modules()
    assert len(modules) == len(set(modules)), modules  # every module runs whole
    real = [
        "tests/lab/environment/test_real_control_plane.py",
        "tests/lab/retrofit/test_clients_repoint.py",
        "tests/lab/retrofit/test_ipvs_real_clients.py",
    ]
    dual = ["tests/lab/failover/test_ipvs_qemu_ipv6.py", "tests/lab/failover/test_verify_ipv6.py"]
    for group in (real, dual):
        at = [modules.index(m) for m in group]
        users = modules[min(at) : max(at) + 1]
        # Nothing of another kind between them (a module that uses real_lab may join the group).
        assert all(m in group or "retrofit/test_api_objects" in m for m in users), users
