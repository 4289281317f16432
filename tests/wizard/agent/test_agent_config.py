"""The agent's settings (wizard.agent.config): every bad value named, with what is expected."""

from __future__ import annotations

import json

import pytest

from wizard.agent.config import ConfigError, parse_config

GOOD = {
    "seed": [{"address": "10.77.0.11", "port": 6443}],
    "check": {"path": "/readyz", "timeout_s": 1, "auth": "anonymous"},
    "balancer": "haproxy",
    "haproxy": {"admin_socket": "/run/kube-haproxy/admin.sock", "server_params": "check"},
    "listen": {"address": "10.77.0.21", "port": 9446},
    "discovery": None,
}


def test_a_good_config_reads():
    config = parse_config(json.dumps(GOOD))
    assert config.seed[0].port == 6443 and config.discovery is None
    assert config.admin_socket == "/run/kube-haproxy/admin.sock" and config.interval_s == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": []}, "seed: []: expected at least one master"),
        ({"seed": [{"address": "10.0.0.1", "port": 0}]}, "seed[0].port: 0: expected a TCP port"),
        ({"seed": ["10.0.0.1"]}, "seed[0]: '10.0.0.1': expected {address, port}"),
        ({"check": {"path": "/readyz", "timeout_s": 1, "auth": "token"}}, "check.auth: 'token'"),
        (
            {"check": {"path": "/readyz", "timeout_s": True, "auth": "anonymous"}},
            "check.timeout_s: True: expected seconds",
        ),
        ({"balancer": "envoy"}, "balancer: 'envoy': expected one of haproxy, nginx, none"),
        ({"balancer": "nginx"}, "nginx: missing"),
        (
            {
                "balancer": "nginx",
                "nginx": {"upstream_file": "/x", "config": "/y", "binary": 1, "params": ""},
            },
            "nginx.binary: 1: expected a string",
        ),
        ({"haproxy": None}, "haproxy: missing"),
        ({"listen": {"address": "10.0.0.1", "port": "9446"}}, "listen.port: '9446'"),
        ({"discovery": "yes"}, "discovery: 'yes': expected a table or null"),
        ({"interval_s": 0}, "interval_s: 0: expected seconds, 0.1 to 60"),
    ],
)
def test_a_bad_value_is_named_with_what_is_expected(change, message):
    with pytest.raises(ConfigError) as error:
        parse_config(json.dumps({**GOOD, **change}))
    assert message in str(error.value)


def test_not_json_and_not_an_object_are_named():
    with pytest.raises(ConfigError, match="not JSON"):
        parse_config("{")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_config("[]")


def test_rebalance_is_off_unless_asked_and_checked_when_asked():
    assert parse_config(json.dumps(GOOD)).rebalance is None
    config = parse_config(json.dumps({**GOOD, "rebalance": {"per_round": 3, "idle_s": 2}}))
    assert config.rebalance is not None and config.rebalance.idle_ms == 2000
    with pytest.raises(ConfigError, match=r"rebalance\.per_round: 0"):
        parse_config(json.dumps({**GOOD, "rebalance": {"per_round": 0}}))
    with pytest.raises(ConfigError, match=r"rebalance\.ratio: 0\.5"):
        parse_config(json.dumps({**GOOD, "rebalance": {"ratio": 0.5}}))
