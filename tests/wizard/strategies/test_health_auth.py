"""[health_check] auth: validated (a named field, the value and what is expected), and rendered
into every check kubeha installs: the session cutter, haproxy (both strategies; the real
`haproxy -c` accepts each mode), the ipvs checker's settings."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from tests.support.examples import example_profile
from wizard.strategies import haproxy_keepalived, ipvs, local_haproxy
from wizard.strategies.common import session_cutter_files
from wizard.validation import validate


def with_health(strategy: str, **changes):
    p = example_profile(strategy)
    return dataclasses.replace(p, health_check=dataclasses.replace(p.health_check, **changes))


def errors(profile) -> list[str]:
    return [str(p) for p in validate(profile) if p.severity == "error"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"auth": "token"}, "health_check.auth"),
        ({"auth": "client-cert", "client_cert": "kubelet.pem"}, "health_check.client_cert"),
        ({"auth": "client-cert", "client_key": "/a/../k.pem"}, "health_check.client_key"),
    ],
)
def test_bad_auth_settings_are_named(changes, field):
    found = errors(with_health("local-nginx", **changes))
    assert any(field in e for e in found), found


def test_haproxy_needs_the_key_in_the_certificate_file_or_beside_it():
    separate = {"auth": "client-cert", "client_cert": "/etc/k/c.pem", "client_key": "/etc/k/k.pem"}
    assert any(
        "haproxy reads the key" in e for e in errors(with_health("local-haproxy", **separate))
    )
    assert not errors(with_health("local-nginx", **separate))  # curl takes --key
    beside = {**separate, "client_key": "/etc/k/c.pem.key"}
    assert not errors(with_health("local-haproxy", **beside))


def test_every_check_carries_the_mode():
    cert = with_health("haproxy-keepalived", auth="client-cert")
    cutter = session_cutter_files(cert)[0].content
    assert "--cert /var/lib/kubelet/pki/kubelet-client-current.pem" in cutter
    alive = with_health("local-haproxy", auth="alive-on-401")
    assert "200|401|403)" in session_cutter_files(alive)[0].content
    assert "http-check expect rstatus ^(200|401|403)$" in local_haproxy.config(alive)
    conf = next(
        f.content
        for f in ipvs.plan(with_health("ipvs", auth="client-cert")).nodes[0].files
        if f.path.endswith("checker.conf")
    )
    assert 'OK_CODES="200"' in conf and 'CHECK_AUTH="--cert /var/lib' in conf


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
@pytest.mark.parametrize("auth", ["anonymous", "client-cert", "alive-on-401"])
@pytest.mark.parametrize("strategy", ["local-haproxy", "haproxy-keepalived"])
def test_the_real_haproxy_accepts_each_mode(tmp_path, strategy, auth):
    pem = tmp_path / "client.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=system:node:w1", "-keyout", str(pem), "-out", str(pem) + ".crt"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pem.write_text((tmp_path / "client.pem.crt").read_text() + pem.read_text())
    profile = with_health(strategy, auth=auth, client_cert=str(pem))
    if strategy == "local-haproxy":
        text = local_haproxy.config(profile).replace(
            local_haproxy.ADMIN_SOCKET, str(tmp_path / "a.sock")
        )
    else:
        node = haproxy_keepalived.plan(profile).nodes[0]
        text = next(f.content for f in node.files if f.path.endswith("haproxy.cfg"))
    text = "\n".join(
        line for line in text.splitlines() if line.strip() not in ("user haproxy", "group haproxy")
    )
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text + "\n")
    result = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
