"""What the kubeconfig snippet tells another machine (a workstation) to dial must be something
that listens there for it: a master's own apiserver, on that master's address and port. The
node-local proxies (local-nginx, local-haproxy) listen on 127.0.0.1:8443 on each node, so a
workstation that maps the API name to a master and keeps :8443 reaches nothing."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from urllib.parse import urlsplit

import pytest

from tests.support.examples import example_profile
from wizard.render import build_plan

NAMED = ("local-nginx", "local-haproxy", "ipvs")  # clients dial a name /etc/hosts resolves


def advice(plan) -> tuple[str, str, str]:
    """(the address, the name) of the workstation's /etc/hosts line and its server URL."""
    text = next(s.content for s in plan.snippets if s.path == "kubeconfig-server.txt")
    hosts = re.search(r"^#\s+/etc/hosts:\s+(\S+)\s+(\S+)$", text, re.M)
    server = re.search(r"^#\s+kubeconfig:\s+server:\s+(\S+)$", text, re.M)
    assert hosts and server, f"no workstation advice (/etc/hosts line and server) in:\n{text}"
    return hosts[1], hosts[2], server[1]


@pytest.mark.parametrize("strategy", NAMED)
def test_a_workstation_is_told_a_masters_own_apiserver(strategy):
    profile = example_profile(strategy)
    # a master whose apiserver is not on 6443: the advice follows the master, not a constant
    masters = (dataclasses.replace(profile.masters[0], apiserver_port=7443), *profile.masters[1:])
    profile = dataclasses.replace(profile, masters=masters)
    plan = build_plan(profile)
    address, name, url = advice(plan)
    master = next(m for m in profile.masters if m.address == address)
    dialed = urlsplit(url)
    assert dialed.hostname == name == urlsplit(plan.server_url).hostname
    assert dialed.port == master.apiserver_port == 7443
    for node in plan.nodes:
        for listen, port in node.ports:
            if port == dialed.port:  # nothing kubeha runs takes the port on loopback only
                assert not ipaddress.ip_address(listen).is_loopback, (listen, port)


@pytest.mark.parametrize("strategy", ("local-nginx", "local-haproxy"))
def test_the_node_local_proxys_port_is_named_as_not_for_a_workstation(strategy):
    plan = build_plan(example_profile(strategy))
    text = next(s.content for s in plan.snippets if s.path == "kubeconfig-server.txt")
    assert "Not port 8443: that is each node's own proxy, listening on 127.0.0.1" in text
    assert advice(plan)[2] == "https://apiserver.cluster.local:6443"


def test_a_vip_needs_no_workstation_advice():
    plan = build_plan(example_profile("haproxy-keepalived"))
    text = next(s.content for s in plan.snippets if s.path == "kubeconfig-server.txt")
    assert "workstation" not in text and plan.server_url in text
