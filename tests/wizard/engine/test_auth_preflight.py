"""The auth preflight: before any node changes, a profile whose checks would mark every master
down on a node is refused, naming the node, what each master answered and the mode the cluster
needs; one that reads the masters passes and says what it saw."""

from __future__ import annotations

import dataclasses

from tests.support.examples import example_profile
from wizard.engine import auth_preflight
from wizard.engine.auth_preflight import NodeAnswers


def profile(auth: str = "anonymous"):
    p = example_profile("local-nginx")
    return dataclasses.replace(p, health_check=dataclasses.replace(p.health_check, auth=auth))


def answers(node: str, anonymous: str, checked: str, **kw) -> NodeAnswers:
    names = [m.name for m in profile().masters]
    return NodeAnswers(node, dict.fromkeys(names, anonymous), dict.fromkeys(names, checked), **kw)


def test_a_401_cluster_refuses_the_anonymous_mode_and_names_the_way_out():
    found, _ = auth_preflight.problems(profile(), [answers("w1", "401", "401")])
    assert len(found) == 1
    assert 'w1: with health_check.auth = "anonymous" every master fails' in found[0]
    assert "master1 401" in found[0] and '"client-cert"' in found[0]
    assert '"alive-on-401"' in found[0]


def test_client_cert_that_reads_readiness_passes():
    found, seen = auth_preflight.problems(profile("client-cert"), [answers("w1", "401", "200")])
    assert not found
    assert seen[0] == 'w1: auth "client-cert": 3 of 3 masters up'
    assert "refuse anonymous" in seen[-1]


def test_a_missing_client_certificate_is_named():
    found, _ = auth_preflight.problems(
        profile("client-cert"),
        [answers("w1", "401", "000", cert="missing /var/lib/kubelet/pki/x.pem")],
    )
    assert found and "health_check.client_cert" in found[0] and "missing" in found[0]


def test_the_script_asks_with_the_certificate_only_in_client_cert_mode():
    assert "--cert" not in auth_preflight.script(profile())
    text = auth_preflight.script(profile("client-cert"))
    assert "--cert /var/lib/kubelet/pki/kubelet-client-current.pem" in text
    parsed = auth_preflight.parse("w1", "KUBEHA-AUTH master1 401 200\n")
    assert parsed.anonymous == {"master1": "401"} and parsed.checked == {"master1": "200"}


def test_an_unreachable_node_never_stops_the_run():
    found, seen = auth_preflight.problems(profile(), [NodeAnswers("w1", {}, {}, error="refused")])
    assert not found and "w1: not asked" in seen[0]
