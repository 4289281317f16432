"""kubeha killed mid-run on the lab (issue 15): a local-nginx profile on port 8446 is changed to
8447 and applied by a `kubeha apply` process that dies (SIGKILL) at a phase boundary — after a
file was staged, after the rename, after activation (before verify) — or loses its SSH session
as activation starts. The next apply finishes the change from the node's journal: every node
serves 8447 (not only has it in its files), verify passes; uninstall still restores the
nodes as they were before kubeha."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.labkit import (
    apply,
    clean_base,
    snapshot,
    states,
    uninstall,
    with_section,
)
from wizard.engine.fault_hooks import VARIABLE
from wizard.engine.node_journal import JOURNAL
from wizard.engine.verify import run_verify
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab

CONF = "/etc/kube-nginx/kube-nginx.conf"
FAULTS = ("kill-after-staged", "kill-after-renamed", "kill-after-activated", "drop-ssh-in-activate")
BEFORE: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def base(lab):
    yield from clean_base(lab, "local-nginx", BEFORE)


def on_port(profile, number):
    return with_section(profile, "local_nginx", listen_port=number)


def serving(lab, node: str, port: int) -> bool:
    """Does the node's kube-nginx answer on ``port`` (what runs, not what the file says)?"""
    probe = f"curl -sk -o /dev/null -w '%{{http_code}}' -m 3 https://127.0.0.1:{port}/readyz"
    return lab.exec_in_node(node, ["sh", "-c", probe]).stdout.strip() == "200"


def kubeha(args: list[str], fault: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if fault:
        env[VARIABLE] = fault
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("fault", FAULTS)
def test_the_next_apply_finishes_an_interrupted_change(lab, base, tmp_path, fault):
    old, new = on_port(base, 8446), on_port(base, 8447)
    summary, recorder = apply(old)
    assert summary.ok, recorder.text()
    path = save_profile(new, tmp_path / "lab-local-nginx.toml")
    died = kubeha(["apply", str(path), "--yes", "--concurrency", "1"], fault)
    if fault.startswith("kill"):
        assert died.returncode == -9, died.stdout + died.stderr
    if fault != "kill-after-staged":  # killed after a rename: the node's journal says so
        journals = [lab.exec_in_node(n.name, ["cat", JOURNAL]).returncode == 0 for n in lab.nodes]
        assert any(journals), died.stdout + died.stderr
    again = kubeha(["apply", str(path), "--yes", "--json"])
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    for node in lab.nodes:
        conf = lab.exec_in_node(node.name, ["cat", CONF]).stdout
        assert "listen 127.0.0.1:8447 reuseport;" in conf, node.name
        assert serving(lab, node.name, 8447), f"{node.name} does not serve 8447 after {fault}"
        assert not serving(lab, node.name, 8446), f"{node.name} still serves 8446 after {fault}"
        assert lab.exec_in_node(node.name, ["test", "-e", JOURNAL]).returncode != 0, node.name
    assert run_verify(new).ok
    # Re-applying once more changes nothing.
    summary, recorder = apply(new)
    assert summary.ok and set(states(summary).values()) == {"unchanged"}, recorder.text()


def test_uninstall_after_interruptions_restores_the_nodes(lab, base):
    summary = uninstall(base)
    assert summary.ok and set(states(summary).values()) == {"removed"}
    assert snapshot(lab) == BEFORE["nodes"]
