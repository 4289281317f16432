"""haproxy-keepalived's VRRP version: 3 for an IPv6 VIP or adverts that are not whole seconds
(a backup then takes the VIP after 3 missed adverts, e.g. 1.5 s at 0.5 s), 2 otherwise; and an
apply that would change it on a node that runs the other version is refused before anything
changes (nodes on different versions ignore each other's adverts and each takes the VIP)."""

from __future__ import annotations

import re

import pytest

from tests.support.examples import changed, example_profile
from tests.support.fake_node import FakeCluster
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions, NodeState
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile_io import parse_profile_text
from wizard.render import build_plan
from wizard.strategies import haproxy_keepalived
from wizard.validation import validate

CONF = "/etc/keepalived/keepalived.conf"


def keepalived(profile) -> str:
    return {f.path: f.content for f in build_plan(profile).nodes[0].files}[CONF]


def setting_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]


@pytest.mark.parametrize(
    ("advert_int", "version", "written"),
    [
        (1, 2, "advert_int 1"),
        (3, 2, "advert_int 3"),
        (0.5, 3, "advert_int 0.5"),
        (1.25, 3, "advert_int 1.25"),
    ],
)
def test_the_version_follows_the_advert_interval(advert_int, version, written):
    profile = changed(
        example_profile("haproxy-keepalived"), "haproxy_keepalived", advert_int=advert_int
    )
    assert not [p for p in validate(profile) if p.field.endswith("advert_int")]
    lines = setting_lines(keepalived(profile))
    assert written in lines
    assert ("version 3" in lines) == (version == 3)


def apply(profile, cluster):
    """kubeha apply on the fake nodes (the run's VIP check finds no VIP on them: per node)."""
    return run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster
    )


def test_a_profile_that_does_not_name_advert_int_gets_sub_second_vrrp_3():
    """No advert_int in the file: 0.3 s, VRRP version 3 (the VIP moves about 1 s after its
    holder is lost; a group that runs VRRP 2 keeps it with advert_int = 1, below)."""
    text = (EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml").read_text()
    without = re.sub(r"(?m)^advert_int.*\n(^ +#.*\n)*", "", text)
    assert "advert_int" not in without
    parsed = parse_profile_text(without)
    assert parsed.profile is not None, parsed.problems
    lines = setting_lines(keepalived(parsed.profile))
    assert "advert_int 0.3" in lines and "version 3" in lines


def test_a_version_change_in_place_is_refused_and_changes_nothing(monkeypatch):
    """A group kubeha 0.2 installed (advert_int 1: VRRP 2) and a profile at this kubeha's
    default (0.3: VRRP 3): refused on every carrier, nothing changed, and the refusal says how
    to keep the group's version."""
    monkeypatch.setattr(haproxy_keepalived, "VIP_SETTLE_S", 0)  # fake nodes hold no VIP
    before = changed(example_profile("haproxy-keepalived"), "haproxy_keepalived", advert_int=1)
    cluster = FakeCluster([n.name for n in before.all_nodes()])
    assert all(n.ok for n in apply(before, cluster).nodes)  # (no VIP on fake nodes: per node)
    files = {name: dict(node.files) for name, node in cluster.nodes.items()}
    faster = changed(before, "haproxy_keepalived", advert_int=0.3)
    summary = apply(faster, cluster)
    carriers = [r for r in summary.nodes if CONF in files[r.node]]
    assert len(carriers) == 3, summary.nodes  # the masters carry keepalived
    print(carriers[0].reason)
    for result in summary.nodes:
        if CONF not in files[result.node]:
            continue  # a node that carries no keepalived (a worker)
        assert result.state is NodeState.UNTOUCHED, result
        assert "VRRP version" in result.reason and "'2' here" in result.reason, result.reason
        assert "'3'" in result.reason and "refused" in result.reason, result.reason
        assert "advert_int = 1" in result.reason, result.reason
        assert cluster.nodes[result.node].files == files[result.node]
    # The same profile at whole seconds (another interval, the same version) goes through.
    again = apply(changed(before, "haproxy_keepalived", advert_int=2), cluster)
    assert all(n.ok for n in again.nodes), again.nodes
