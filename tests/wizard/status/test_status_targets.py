"""Where ``kubeha status`` reads each node's agent: the profile's ``[agent]`` address and port;
on loopback (the default) through the node over SSH, since only the node reaches it."""

from __future__ import annotations

import argparse
import subprocess
import sys

from wizard.commands import status_command
from wizard.paths import EXAMPLE_PROFILES_DIR

PROFILE = """schema_version = 1
name = "one"
strategy = "local-haproxy"
[[masters]]
name = "m1"
address = "127.0.0.1"
"""


def targets(tmp_path, extra: str = "", port: int | None = None):
    path = tmp_path / "p.toml"
    path.write_text(PROFILE + extra)
    return status_command.targets_of(argparse.Namespace(profile=str(path), port=port))


def test_without_the_agent_the_node_address_and_the_default_port_over_http(tmp_path):
    _, found, over_ssh = targets(tmp_path)
    assert [(t.node, t.address, t.port) for t in found] == [("m1", "127.0.0.1", 9446)]
    assert not over_ssh


def test_an_agent_on_loopback_is_read_through_the_node(tmp_path):
    _, found, over_ssh = targets(tmp_path, "[agent]\nenabled = true\nlisten_port = 9555\n")
    assert over_ssh and [t.url for t in found] == ["http://127.0.0.1:9555/metrics"]
    _, found, _ = targets(tmp_path, "[agent]\nenabled = true\n", port=9600)
    assert found[0].port == 9600  # --port wins


def test_the_scrape_run_on_the_node_reads_one_agent_answer(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", status_command.SCRAPE, "http://127.0.0.1:9/metrics", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "Connection refused" in done.stderr


def test_haproxy_keepalived_is_read_on_its_load_balancer_nodes_only(tmp_path):
    path = tmp_path / "hk.toml"
    example = (EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml").read_text()
    path.write_text(example.replace("192.0.2.", "10.0.0.") + "\n[agent]\nenabled = true\n")
    _, found, over_ssh = status_command.targets_of(argparse.Namespace(profile=str(path), port=None))
    assert over_ssh and [t.node for t in found] == ["master1", "master2", "master3"]
