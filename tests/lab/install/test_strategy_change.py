"""Changing strategy on the same nodes (issue 15). local-nginx is applied, then the
haproxy-keepalived profile is: every node refuses before anything changes, naming what runs
there and the command that removes it, and keeps serving through kube-nginx; after that
uninstall, the new strategy applies and verifies. local-haproxy takes over local-nginx's port
in place (and back) while clients run on every node."""

from __future__ import annotations

import pytest

from bench.strategy_change import measure_change
from tests.support.deadlines import on_loaded_host
from tests.support.labkit import STRATEGIES, apply, lab_profile, snapshot, states, uninstall

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def clean(lab):
    for strategy in STRATEGIES:
        uninstall(lab_profile(lab, strategy))
    yield
    for strategy in STRATEGIES:
        uninstall(lab_profile(lab, strategy))


def test_another_strategy_is_refused_before_any_change_then_applies_after_uninstall(lab, clean):
    nginx, hk = lab_profile(lab, "local-nginx"), lab_profile(lab, "haproxy-keepalived")
    summary, recorder = apply(nginx)
    assert summary.ok, recorder.text()
    before = snapshot(lab)
    summary, recorder = apply(hk)
    assert set(states(summary).values()) == {"untouched"}, recorder.text()
    for result in summary.nodes:
        assert "runs kubeha's local-nginx (profile 'lab-local-nginx'" in result.reason, result
        assert "kubeha uninstall lab-local-nginx" in result.reason
    assert snapshot(lab) == before  # not one file or unit changed
    summary, recorder = apply(nginx)  # still serving, unchanged
    assert summary.ok and set(states(summary).values()) == {"unchanged"}, recorder.text()
    assert uninstall(nginx).ok
    summary, recorder = apply(hk)
    assert summary.ok, recorder.text()


def test_local_haproxy_takes_over_local_nginx_with_clients_running_and_back(lab, clean):
    """The take-over in place, both ways, with the drill's clients on every node: not one
    request fails, no watch stays cut, and uninstall then puts every node back as it was."""
    nginx, haproxy = lab_profile(lab, "local-nginx"), lab_profile(lab, "local-haproxy")
    for strategy in STRATEGIES:  # the test above leaves haproxy-keepalived
        uninstall(lab_profile(lab, strategy))
    before = snapshot(lab)
    summary, recorder = apply(nginx)
    assert summary.ok, recorder.text()
    try:
        for current, target in ((nginx, haproxy), (haproxy, nginx)):
            change = measure_change(current, target)
            assert change.summary.ok, [(n.node, n.reason) for n in change.summary.nodes]
            assert change.within, f"the apply took {change.apply_s:.1f} s, past the loops"
            for result in change.summary.nodes:
                assert f"took over from {current.strategy}" in result.reason, result
            for node in change.report.nodes:
                assert not node.error, node
                assert node.requests > 0 and node.failed == 0, node
                assert node.ka_requests > 0 and node.ka_failed == 0, node
                assert node.watch_back_s is not None, node  # cut, and back
                assert node.watch_back_s <= on_loaded_host(3.0), node
            for name in (n.name for n in lab.nodes):
                units = lab.exec_in_node(
                    name, ["systemctl", "is-active", "kube-nginx.service", "kube-haproxy.service"]
                ).stdout.split()
                want = ["inactive", "active"] if target is haproxy else ["active", "inactive"]
                assert units == want, (name, units)
    finally:
        uninstall(nginx)
        uninstall(haproxy)
    assert snapshot(lab) == before
