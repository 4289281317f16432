"""kubeha-vip-follower against stand-ins for ip and ss (no network): it closes the node's
connections to VIP:port when the VIP changes holder (a new MAC, or the VIP arriving on or
leaving a local interface), and at no other time."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.deadlines import POLL_S
from tests.support.examples import example_profile
from wizard.paths import TEMPLATES_DIR
from wizard.strategies.haproxy_keepalived import FOLLOWER_PATH, FOLLOWER_UNIT, plan

VIP = "192.0.2.100"
FAKE_IP = r"""#!/bin/bash
# ip stand-in: addresses from $FAKE/local, the neighbour table from $FAKE/neigh; monitor is quiet.
case "$*" in
*monitor*) exec sleep 600 ;;
*addr*) cat "$FAKE/local" 2>/dev/null ;;
*neigh*) cat "$FAKE/neigh" 2>/dev/null ;;
esac
"""
FAKE_SS = r"""#!/bin/bash
echo "$*" >> "$FAKE/ss-calls"
echo "0 0 10.0.0.21:40000 $VIP:8443"
"""


@pytest.fixture
def follower(tmp_path: Path):
    fake = tmp_path / "fake"
    (fake / "bin").mkdir(parents=True)
    for name, text in (("ip", FAKE_IP), ("ss", FAKE_SS)):
        (fake / "bin" / name).write_text(text)
        (fake / "bin" / name).chmod(0o755)
    (fake / "neigh").write_text(f"{VIP} dev eth0 lladdr 02:00:00:00:00:0a REACHABLE\n")
    env = {
        "PATH": f"{fake / 'bin'}:{os.environ['PATH']}",
        "FAKE": str(fake),
        "VIP": VIP,
        "PORT": "8443",
        "POLL": "0.1",
    }
    script = TEMPLATES_DIR / "haproxy-keepalived" / "kubeha-vip-follower.sh"
    proc = subprocess.Popen(
        ["bash", str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as under systemd: its stop takes its whole group down
    )

    class Follower:
        pid = proc.pid

        def neigh(self, text: str) -> None:
            (fake / "neigh").write_text(text)

        def local(self, text: str) -> None:
            (fake / "local").write_text(text)

        def calls(self) -> list[str]:
            try:
                return (fake / "ss-calls").read_text().splitlines()
            except OSError:
                return []

        def wait_calls(self, count: int, timeout: float = POLL_S) -> None:
            deadline = time.monotonic() + timeout
            while len(self.calls()) < count:
                assert time.monotonic() < deadline, self.calls()
                time.sleep(0.05)

        def settle(self) -> None:
            """Ten poll rounds: enough for the loop to have looked several times."""
            time.sleep(1.0)

    try:
        yield Follower()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
        print(output)


def test_a_new_mac_for_the_vip_closes_the_connections_to_it(follower):
    follower.settle()
    assert follower.calls() == []  # the first holder seen is only learned
    follower.neigh(f"{VIP} dev eth0 lladdr 02:00:00:00:00:0b STALE\n")
    follower.wait_calls(1)
    assert follower.calls() == [f"-K -H -n state established dst {VIP} dport = :8443"]


def test_no_change_of_holder_closes_nothing(follower):
    follower.neigh(f"{VIP} dev eth0 lladdr 02:00:00:00:00:0a STALE\n")  # same MAC, other state
    follower.settle()
    follower.neigh(f"{VIP} dev eth0  FAILED\n")  # being resolved again: says nothing
    follower.settle()
    follower.neigh("")
    follower.settle()
    assert follower.calls() == []


def test_the_vip_arriving_here_and_leaving_again_closes_the_connections(follower):
    follower.settle()
    follower.local(f"2: eth0    inet {VIP}/24 scope global secondary eth0\n")
    follower.wait_calls(1)
    follower.local("")
    follower.neigh(f"{VIP} dev eth0 lladdr 02:00:00:00:00:0c REACHABLE\n")
    follower.wait_calls(2)


def running_in_group(group: int) -> list[int]:
    """PIDs of the process group that still run (zombies waiting for a reaper do not)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def test_a_stop_leaves_no_monitor_running(follower):
    follower.settle()
    group = os.getpgid(follower.pid)
    assert len(running_in_group(group)) >= 2  # bash and its ip monitor
    os.kill(follower.pid, signal.SIGTERM)
    deadline = time.monotonic() + POLL_S
    while running_in_group(group):
        assert time.monotonic() < deadline, f"still running: {running_in_group(group)}"
        time.sleep(0.05)


def test_every_node_runs_the_follower():
    rendered = plan(example_profile("haproxy-keepalived"))
    for node in rendered.nodes:
        assert FOLLOWER_UNIT in node.services, node.node
        paths = {f.path for f in node.files}
        assert FOLLOWER_PATH in paths and f"/etc/systemd/system/{FOLLOWER_UNIT}" in paths
