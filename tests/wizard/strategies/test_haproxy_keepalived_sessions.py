"""haproxy-keepalived's haproxy closes a session to a vanished master by itself, as
local-haproxy's does: TCP keepalive probes while a session is idle and a user timeout of one
check interval on every server line (haproxy 2.6 ignores tcp-ut on default-server), the backups
included; and it gives up on a connect after 0.5 s. The real haproxy reads the rendered config
in tests/wizard/test_config_check.py."""

from __future__ import annotations

import dataclasses

from tests.support.examples import example_profile
from wizard.strategies import haproxy_keepalived

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"


def config(profile) -> list[str]:
    plan = haproxy_keepalived.plan(profile)
    text = next(f.content for n in plan.nodes for f in n.files if f.path == HAPROXY_CFG)
    return [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]


def test_every_server_line_has_the_user_timeout_and_sessions_keepalive():
    lines = config(example_profile("haproxy-keepalived"))
    servers = [line for line in lines if line.startswith("server ")]
    assert len(servers) == 6  # three masters, three unchecked backups
    assert all(" tcp-ut 1000ms" in line for line in servers), servers
    checked = [line for line in servers if "unchecked" not in line]
    observe = "observe layer4 error-limit 1 on-error fail-check"
    assert all(line.endswith(observe) for line in checked), servers  # only the checked ones
    assert not [line for line in servers if "unchecked" in line and "observe" in line], servers
    assert "option srvtcpka" in lines
    assert {"srvtcpka-idle 1s", "srvtcpka-intvl 1s", "srvtcpka-cnt 2"} <= set(lines)
    assert "timeout connect 500ms" in lines
    assert not [line for line in lines if "shutdown-sessions" in line]


def test_the_user_timeout_follows_the_check_interval():
    profile = example_profile("haproxy-keepalived")
    slow = dataclasses.replace(
        profile, health_check=dataclasses.replace(profile.health_check, interval=2.5, fall=3)
    )
    lines = config(slow)
    servers = [line for line in lines if line.startswith("server ")]
    assert all(" tcp-ut 2500ms" in line for line in servers), servers
    assert {"srvtcpka-idle 3s", "srvtcpka-intvl 3s", "srvtcpka-cnt 3"} <= set(lines)
