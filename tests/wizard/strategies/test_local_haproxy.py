"""local-haproxy's rendered config with the real haproxy: its own files beside a distro haproxy,
every server's options on its own line, and a master's host vanishing in an empty network
namespace (tests/support/haproxy_cut_scenario.py): no request fails, the watch on it is closed within
the health check's patience, the master is marked down."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.deadlines import on_loaded_host
from tests.support.examples import example_profile
from tests.support.haproxy_cut_scenario import CLIENT_TIMEOUT_S, WATCH_LIMIT_S
from tests.support.netns_scenario import in_empty_netns, self_signed
from wizard.profile import Master
from wizard.strategies import local_haproxy

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "nft", "haproxy", "openssl")),
    reason="needs root, unshare, nft, haproxy and openssl",
)


def settings(text: str) -> list[str]:
    """The lines that are not comments, stripped."""
    return [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]


def servers(config: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if line.strip().startswith("server ")]


def test_its_own_config_unit_pid_and_sockets_beside_a_distro_haproxy():
    plan = local_haproxy.plan(example_profile("local-haproxy"))
    for node in plan.nodes:
        assert [f.path for f in node.files] == [
            "/etc/kube-haproxy/haproxy.cfg",
            "/etc/systemd/system/kube-haproxy.service",
            # the session cutter: local-nginx's same files, so a take-over keeps them
            "/usr/local/lib/kubeha/kubeha-session-cutter",
            "/etc/systemd/system/kubeha-session-cutter.service",
            "/etc/hosts",
        ]
        assert node.files[-1].kind == "line"
        assert node.files[-1].content == "127.0.0.1 apiserver.cluster.local\n"
        assert node.verify_url == "https://apiserver.cluster.local:8443/readyz"
        assert node.services == ("kube-haproxy.service", "kubeha-session-cutter.service")
        assert node.ports == (("127.0.0.1", 8443),)
    unit = settings(plan.nodes[0].files[1].content)
    assert (
        'Environment="CONFIG=/etc/kube-haproxy/haproxy.cfg" "PIDFILE=/run/kube-haproxy/haproxy.pid"'
        in unit
    )
    assert (
        "ExecStart=/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE -S /run/kube-haproxy/master.sock"
        in unit
    )
    assert not [line for line in unit if "/etc/haproxy" in line or "haproxy.service" in line]
    config = settings(plan.nodes[0].files[0].content)
    assert "stats socket /run/kube-haproxy/admin.sock mode 600 level admin" in config
    assert not [line for line in config if "/etc/haproxy" in line]


def test_every_server_line_carries_all_its_options():
    """haproxy 2.6 ignores tcp-ut on a default-server line: each server states everything."""
    profile = example_profile("local-haproxy")
    config = local_haproxy.config(profile)
    assert not [line for line in settings(config) if line.startswith("default-server")]
    lines = servers(config)
    names = [m.name for m in profile.masters]
    assert [line.split()[1] for line in lines] == [*names, *(f"{n}-unchecked" for n in names)]
    for line in lines[: len(names)]:
        assert line.endswith(
            "check check-ssl verify none inter 1000ms fastinter 250ms downinter 1000ms "
            "fall 2 rise 2 tcp-ut 1000ms "  # one check interval
            "observe layer4 error-limit 1 on-error fail-check"  # a refused connect: a failed check
        )
    for line in lines[len(names) :]:  # never every master out: the same masters, unchecked
        assert line.endswith("backup tcp-ut 1000ms")
    assert not [line for line in settings(config) if "shutdown-sessions" in line]


def test_health_check_settings_follow_the_profile():
    profile = example_profile("local-haproxy")
    slow = dataclasses.replace(
        profile,
        health_check=dataclasses.replace(
            profile.health_check, interval=2.5, timeout=2.0, fall=3, rise=1, path="/livez"
        ),
    )
    config = local_haproxy.config(slow)
    assert "option httpchk GET /livez" in config
    assert "timeout check 2000ms" in config
    assert "srvtcpka-idle 3s" in config and "srvtcpka-intvl 3s" in config
    assert "srvtcpka-cnt 3" in config
    for line in servers(config):
        assert "tcp-ut 2500ms" in line  # one check interval
        if "backup" not in line:
            assert "inter 2500ms" in line and "fall 3 rise 1" in line


def scenario_config(tmp_path: Path) -> tuple[Path, Path]:
    """The rendered config for three masters on 127.0.0.2-4, its admin socket in tmp_path (and
    no user switch: the scenario runs as root in its own namespace)."""
    profile = dataclasses.replace(
        example_profile("local-haproxy"),
        masters=tuple(Master(f"m{i}", f"127.0.0.{i + 1}", 6443) for i in (1, 2, 3)),
        workers=(),
    )
    socket_path = tmp_path / "admin.sock"
    text = (
        local_haproxy.config(profile)
        .replace(local_haproxy.ADMIN_SOCKET, str(socket_path))
        .replace(local_haproxy.STATS_SOCKET, str(tmp_path / "stats.sock"))
    )
    text = "\n".join(
        line for line in text.splitlines() if line.strip() not in ("user haproxy", "group haproxy")
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(text + "\n")
    return path, socket_path


@needs_netns
def test_a_vanished_master_loses_no_request_and_its_watch_is_closed(tmp_path):
    config, socket_path = scenario_config(tmp_path)
    assert subprocess.run(["haproxy", "-c", "-q", "-f", str(config)]).returncode == 0
    cert, key = self_signed(tmp_path)
    seen = in_empty_netns(
        "haproxy_cut_scenario", str(config), str(cert), str(key), str(socket_path), timeout=90
    )
    print(seen)
    assert seen["requests_after_cut"] >= 30, seen
    assert seen["failed_after_cut"] == 0, seen
    # A connect to the vanished master is given up on after 0.5 s and retried elsewhere (about
    # 1 s on a quiet host), never left to the client's own 5 s timeout.
    assert seen["slowest_after_cut_s"] < CLIENT_TIMEOUT_S - 0.5, seen
    # fall (2) checks at inter 1 s / fastinter 0.25 s, each given up on after 0.5 s (2.5 s on a
    # quiet host): marked down at all within the scenario's 6 s.
    assert seen["marked_down_s"] is not None, seen
    # Keepalive probes after 1 s idle and the 1 s user timeout close the stalled watch (2 s on
    # a quiet host); without them it stalls until the stand-in's own 15 s limit.
    ended = seen["victim_watch_ended_s"]
    assert ended is not None and ended < min(on_loaded_host(3.0), WATCH_LIMIT_S - 3), seen
    assert all(seen["other_watches_alive"]), seen
    # Its request in flight stalls until the user timeout closes the session, then goes again on
    # a new connection: without tcp-ut on the server lines it waited out the client's 5 s.
    assert seen["kept_alive_requests"] >= 30, seen
    assert seen["kept_alive_failed"] == 0, seen
    assert seen["kept_alive_back_s"] < CLIENT_TIMEOUT_S - 0.5, seen
