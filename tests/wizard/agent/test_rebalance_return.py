"""Balance after a return (issue 25), on real programs without the lab: local-haproxy's rendered
haproxy (``balance leastconn``) in front of three stand-in TLS masters, long-lived idle clients
(watches and kept-alive connections) and requests in flight through it, the first master down
while they connect and back after; the node agent's own rebalance step, from the agent.json
kubeha renders with ``[agent] rebalance = true``, reads and closes through this kernel
(``ss -K``). In an empty network namespace: tests/support/rebalance_scenario.py."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.all_failing_scenario import MASTERS
from tests.support.examples import changed, example_profile
from wizard.profile import Master
from wizard.strategies import local_haproxy, node_agent, registry

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "haproxy", "openssl", "ss")),
    reason="needs root, unshare, haproxy, openssl and ss",
)


def rendered(folder: Path) -> tuple[Path, Path, Path]:
    """haproxy.cfg (its sockets moved into ``folder``, no user switch) and agent.json of a
    local-haproxy profile with the agent and its rebalancing on, masters on 127.0.0.2-4."""
    profile = example_profile("local-haproxy")
    profile = dataclasses.replace(
        profile, masters=tuple(Master(f"m{i}", a, 6443) for i, a in enumerate(MASTERS, 1))
    )
    profile = changed(profile, "agent", enabled=True, rebalance=True)
    admin = folder / "admin.sock"
    text = (
        local_haproxy.config(profile)
        .replace(local_haproxy.ADMIN_SOCKET, str(admin))
        .replace(local_haproxy.STATS_SOCKET, str(folder / "stats.sock"))
    )
    text = "\n".join(
        line for line in text.splitlines() if line.strip() not in ("user haproxy", "group haproxy")
    )
    assert "balance leastconn" in text
    cfg = folder / "haproxy.cfg"
    cfg.write_text(text + "\n")
    plan = registry.get("local-haproxy").plan(profile)
    agent_json = folder / "agent.json"
    agent_json.write_text(
        next(f.content for f in plan.nodes[0].files if f.path == node_agent.CONFIG_PATH)
    )
    return cfg, agent_json, admin


def test_connections_spread_back_within_the_ratio_and_no_request_fails(tmp_path):
    cfg, agent_json, admin = rendered(tmp_path)
    assert json.loads(agent_json.read_text())["rebalance"]["ratio"] == 1.25
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=kube-apiserver", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = subprocess.run(
        [
            *("unshare", "-n", sys.executable, "-m", "tests.support.rebalance_scenario"),
            *(str(cfg), str(agent_json), str(cert), str(key), str(admin)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    print(result.stderr[-2000:])
    print(seen)
    returning = MASTERS[0]
    assert seen["before"][returning] == 0, seen  # every client landed on the other two
    assert sum(seen["before"].values()) == 14, seen
    after = seen["after"]
    assert seen["all_connected"] and sum(after.values()) == 14, seen  # every client is back
    assert max(after.values()) <= max(1.25 * min(after.values()), min(after.values()) + 1), seen
    kernel = seen["kernel_after"]
    assert max(kernel.values()) <= max(1.25 * min(kernel.values()), min(kernel.values()) + 1)
    assert after[returning] > 0 and seen["closed"] > 0, seen
    # the sweep: every idle connection closed at once, the two in flight left, all back
    assert seen["swept"] >= 10 and seen["not_idle"] == 2, seen
    assert seen["all_connected_after_sweep"], seen
    assert seen["failed"] == 0, seen  # no request failed, reconnections included
    # the requests in flight kept their connections and got their answers on them
    assert seen["slow_answered"] == 2 and seen["slow_failed"] == 0, seen
