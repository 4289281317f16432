"""Balance after a return (issue 25), on real programs without the lab: local-haproxy's rendered
haproxy (``balance leastconn``) in front of three stand-in TLS masters, long-lived idle clients
(watches and kept-alive connections) and requests in flight through it, the first master down
while they connect and back after; the node agent's own rebalance step, from the agent.json
kubeha renders with ``[agent] rebalance = true``, reads and closes through this kernel
(``ss -K``). In an empty network namespace: tests/support/rebalance_scenario.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.all_failing_scenario import MASTERS
from tests.support.examples import changed
from tests.support.netns_scenario import in_empty_netns, loopback_profile, self_signed
from tests.support.realcheck import STREAM_MODULE
from wizard.profile import Profile
from wizard.strategies import local_haproxy, local_nginx, node_agent, registry

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "openssl", "ss")),
    reason="needs root, unshare, openssl and ss",
)


def agent_profile(strategy: str) -> Profile:
    """The example profile of ``strategy``, masters on the stand-ins, the agent and its
    rebalancing on."""
    return changed(loopback_profile(strategy), "agent", enabled=True, rebalance=True)


def rendered(strategy: str, folder: Path) -> tuple[Path, Path, Path]:
    """The balancer's config as rendered (its sockets, pid file and include moved into
    ``folder``, no user switch), the node's agent.json, and haproxy's admin socket."""
    profile = agent_profile(strategy)
    files = {f.path: f for f in registry.get(strategy).plan(profile).nodes[0].files}
    agent_json = folder / "agent.json"
    data = json.loads(files[node_agent.CONFIG_PATH].content)
    assert data["rebalance"]["unit"] == registry.get(strategy).plan(profile).nodes[0].services[0]
    # The balancer runs here as this test's child, in the test's own cgroup, not in its unit's:
    # the agent tells its connections by that cgroup, as on a node by the unit's.
    here = Path("/proc/self/cgroup").read_text().strip().splitlines()[-1].rpartition("/")[2]
    data["rebalance"]["unit"] = here
    agent_json.write_text(json.dumps(data))
    admin = folder / "admin.sock"
    if strategy == "local-haproxy":
        text = (
            local_haproxy.config(profile)
            .replace(local_haproxy.ADMIN_SOCKET, str(admin))
            .replace(local_haproxy.STATS_SOCKET, str(folder / "stats.sock"))
        )
        text = "\n".join(
            line
            for line in text.splitlines()
            if line.strip() not in ("user haproxy", "group haproxy")
        )
        assert "balance leastconn" in text
        cfg = folder / "haproxy.cfg"
    else:
        include = local_nginx.upstream_include(profile)
        (folder / "upstream.conf").write_text(files[include].content)
        text = files[local_nginx.layout(profile)["conf"]].content.replace(
            include, str(folder / "upstream.conf")
        )
        text = re.sub(r"(?m)^pid .*;$", f"pid {folder}/nginx.pid;", text)
        if "load_module" not in text and not built_in_stream():
            text = STREAM_MODULE + "\n" + text
        assert "least_conn;" in text
        cfg = folder / "kube-nginx.conf"
    cfg.write_text(text + "\n")
    return cfg, agent_json, admin


def built_in_stream() -> bool:
    version = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=10)
    return "--with-stream " in version.stderr + " "


@pytest.mark.parametrize(
    ("strategy", "balancer"), [("local-haproxy", "haproxy"), ("local-nginx", "nginx")]
)
def test_connections_spread_back_within_the_ratio_and_no_request_fails(
    tmp_path, strategy, balancer
):
    if not shutil.which(balancer):
        pytest.skip(f"needs {balancer}")
    cfg, agent_json, admin = rendered(strategy, tmp_path)
    assert json.loads(agent_json.read_text())["rebalance"]["ratio"] == 1.25
    cert, key = self_signed(tmp_path)
    seen = in_empty_netns(
        "rebalance_scenario",
        balancer,
        str(cfg),
        str(agent_json),
        str(cert),
        str(key),
        str(admin),
        timeout=300,
    )
    returning = MASTERS[0]
    assert seen["before"][returning] == 0, seen  # every client landed on the other two
    assert sum(seen["before"].values()) == 14, seen
    after = seen["after"]
    assert seen["all_connected"] and sum(after.values()) == 14, seen  # every client is back
    assert max(after.values()) <= max(1.25 * min(after.values()), min(after.values()) + 1), seen
    kernel = seen["kernel_after"]
    assert max(kernel.values()) <= max(1.25 * min(kernel.values()), min(kernel.values()) + 1)
    assert after[returning] > 0 and seen["closed"] > 0, seen
    # the sweep: every idle connection closed at once, the two in flight left, all back (on a
    # loaded host a client that reconnected late in the rounds may not be idle yet either: the
    # in-flight two are proven by their answers below, on the connections they had)
    assert seen["swept"] >= 10 and seen["not_idle"] >= 2, seen
    assert seen["all_connected_after_sweep"], seen
    assert seen["failed"] == 0, seen  # no request failed, reconnections included
    # the requests in flight kept their connections and got their answers on them
    assert seen["slow_answered"] == 2 and seen["slow_failed"] == 0, seen
