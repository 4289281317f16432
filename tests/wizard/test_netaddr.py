"""Addresses are formatted in one place (wizard.netaddr): brackets for IPv6 wherever a port, a URL
or an ss filter follows, the bare compressed form elsewhere; no template or module builds an
``address:port`` or a URL by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.examples import changed
from tests.support.render_cases import cases
from wizard import netaddr
from wizard.render import build_plan

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("address", "port", "expected"),
    [
        ("10.0.0.1", 6443, "10.0.0.1:6443"),
        ("fd00::1", 6443, "[fd00::1]:6443"),
        ("fd00:0:0::0:1", 6443, "[fd00::1]:6443"),
        ("::", 8443, "[::]:8443"),
        ("api.example", 6443, "api.example:6443"),
        ("*", 8443, "*:8443"),
    ],
)
def test_host_port(address, port, expected):
    assert netaddr.host_port(address, port) == expected


def test_urls_and_curl_arguments():
    assert netaddr.https_url("fd00::1", 6443, "/readyz") == "https://[fd00::1]:6443/readyz"
    assert netaddr.https_url("10.0.0.1", 6443) == "https://10.0.0.1:6443"
    assert netaddr.curl_resolve("api", 6443, "fd00::1") == "api:6443:[fd00::1]"
    assert netaddr.curl_connect_to("api", 8443, "fd00::1", 6443) == "api:8443:[fd00::1]:6443"
    assert netaddr.url_host("fd00::1") == "[fd00::1]"  # ss's "dst [fd00::1]"


def test_bare_forms():
    assert netaddr.bare("fd00:0::1") == "fd00::1"
    assert netaddr.bare("10.0.0.1") == "10.0.0.1"
    assert netaddr.bare("api.example") == "api.example"
    assert netaddr.bare("") == ""
    assert netaddr.host_cidr("fd00::1") == "fd00::1/128"
    assert netaddr.host_cidr("10.0.0.1") == "10.0.0.1/32"
    assert (netaddr.loopback(6), netaddr.any_address(6)) == ("::1", "::")
    assert (netaddr.loopback(4), netaddr.any_address(4)) == ("127.0.0.1", "0.0.0.0")


HAND_MADE = (
    re.compile(r"\}\}:\{\{"),  # {{ address }}:{{ port }}
    re.compile(r"\"\[\" ~"),  # "[" ~ address ~ "]"
    re.compile(r"https://\{\{"),  # https://{{ address }}...
)


def test_no_template_formats_an_address_by_hand():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.j2")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in HAND_MADE):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_no_strategy_builds_a_url_by_hand():
    found = []
    for path in sorted((ROOT / "wizard" / "strategies").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if 'f"https://{' in line:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_ipv6_vip_renders_bracketed_bind_and_vrrp_version_3():
    """Before: ``bind ::::8443`` (haproxy -c: invalid address ':::')."""
    plan = build_plan(cases()["haproxy-keepalived-ipv6"])
    files = {f.path: f.content for f in plan.nodes[0].files}
    assert "    bind [::]:8443 v4v6\n" in files["/etc/haproxy/haproxy.cfg"]
    assert (
        "    server master1 [2001:db8::11]:6443 tcp-ut 1000ms observe layer4 error-limit 1 on-error fail-check\n"
        in files["/etc/haproxy/haproxy.cfg"]
    )
    keepalived = files["/etc/keepalived/keepalived.conf"]
    assert "    version 3\n" in keepalived
    assert "        2001:db8::100/64 dev eth0\n" in keepalived
    assert '"https://[::1]:8443/readyz"' in files["/etc/keepalived/check_apiserver.sh"]
    # IPv4 at whole seconds stays on VRRP 2; IPv6 is on 3 whatever the interval.
    v4 = build_plan(changed(cases()["haproxy-keepalived"], "haproxy_keepalived", advert_int=1))
    v6 = build_plan(changed(cases()["haproxy-keepalived-ipv6"], "haproxy_keepalived", advert_int=1))
    for whole, version in ((v4, False), (v6, True)):
        conf = {f.path: f.content for f in whole.nodes[0].files}["/etc/keepalived/keepalived.conf"]
        assert ("    version 3\n" in conf) is version
    assert plan.server_url == "https://[2001:db8::100]:8443"


def test_ipv6_endpoints_in_kubeadm_and_ipvs():
    hk = build_plan(cases()["haproxy-keepalived-ipv6"])
    kubeadm = {s.path: s.content for s in hk.snippets}["kubeadm-config.yaml"]
    assert 'controlPlaneEndpoint: "[2001:db8::100]:8443"' in kubeadm
    assert '  - "::1"\n' in kubeadm
    ipvs = build_plan(cases()["ipvs-ipv6"])
    files = {f.path: f.content for f in ipvs.nodes[0].files}
    assert "-A -t [2001:db8:97::2]:6443 -s rr" in files["/etc/kubeha/ipvs/ipvs.rules"]
    assert files["/etc/hosts"] == "2001:db8:97::2 apiserver.cluster.local\n"
    proxy = {s.path: s.content for s in ipvs.snippets}["kube-proxy-config.yaml"]
    assert "  - 2001:db8:97::2/128\n" in proxy
