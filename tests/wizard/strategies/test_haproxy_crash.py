"""Both haproxy strategies with the real haproxy, in an empty network namespace
(tests/support/haproxy_crash_scenario.py): a master's apiserver crashes and is started again
answering errors before it is ready, as kubelet restarts a static pod. A refused connection
counts as a failed check at once (``observe layer4``), so the master is down before it listens
again and no request reaches it while it is not ready; no request fails.

The profile's checks are 5 s apart here so that the behaviour does not hang on the timing: with
the ordinary checks alone, haproxy needs 2 of them (5-10 s) to mark the master down, and sends
it requests for the rest of the scenario (what the code before this test did)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.examples import example_profile
from tests.support.haproxy_crash_scenario import RESTART_AFTER_S
from tests.support.netns_scenario import in_empty_netns, self_signed
from wizard.profile import Master, Profile
from wizard.strategies import haproxy_keepalived, local_haproxy

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "haproxy", "openssl")),
    reason="needs root, unshare, haproxy and openssl",
)
CHECK_INTERVAL_S = 5.0


def scenario_profile(strategy: str) -> Profile:
    """The example profile with three masters on 127.0.0.2-4 and checks 5 s apart."""
    profile = example_profile(strategy)
    return dataclasses.replace(
        profile,
        masters=tuple(Master(f"m{i}", f"127.0.0.{i + 1}", 6443) for i in (1, 2, 3)),
        workers=(),
        health_check=dataclasses.replace(profile.health_check, interval=CHECK_INTERVAL_S),
    )


def rendered(strategy: str, socket_path: Path) -> str:
    """The strategy's rendered haproxy config, listening on 127.0.0.1:8443 with an admin socket
    at ``socket_path`` (haproxy-keepalived has one only with its agent: one is added)."""
    profile = scenario_profile(strategy)
    if strategy == "local-haproxy":
        text = local_haproxy.config(profile).replace(local_haproxy.ADMIN_SOCKET, str(socket_path))
        text = text.replace(local_haproxy.STATS_SOCKET, str(socket_path.with_name("stats.sock")))
    else:
        plan = haproxy_keepalived.plan(profile)
        text = next(f.content for n in plan.nodes for f in n.files if f.path.endswith(".cfg"))
        text = text.replace("global\n", f"global\n    stats socket {socket_path} level admin\n", 1)
    lines = [
        line for line in text.splitlines() if line.strip() not in ("user haproxy", "group haproxy")
    ]
    return "\n".join(lines) + "\n"


@needs_netns
@pytest.mark.parametrize("strategy", ["local-haproxy", "haproxy-keepalived"])
def test_a_crashed_master_restarted_before_ready_gets_no_request(tmp_path, strategy):
    socket_path = tmp_path / "admin.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(rendered(strategy, socket_path))
    checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], capture_output=True)
    assert checked.returncode == 0, checked.stderr
    cert, key = self_signed(tmp_path)
    seen = in_empty_netns(
        "haproxy_crash_scenario", str(config), str(cert), str(key), str(socket_path), timeout=120
    )
    assert seen["served_by_m1_before_the_crash"] >= 1, seen  # it carried requests
    assert seen["restarted"] and seen["requests_after_crash"] >= 60, seen
    assert seen["failed_after_crash"] == 0, seen  # the refused connections were sent elsewhere
    # Down before it listened again: 0.3-0.5 s after the crash on a quiet host (the first
    # refused request, then one check after fastinter); the restart comes 2 s after it.
    assert seen["marked_down_s"] is not None and seen["marked_down_s"] < RESTART_AFTER_S, seen
    assert seen["answered_by_the_unready_master"] == 0, seen
