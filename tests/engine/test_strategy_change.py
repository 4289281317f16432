"""Changing strategy on the same nodes (issue 15): local-nginx is applied, then the
haproxy-keepalived profile is. Every node refuses before anything changes, naming what runs
there and the command that removes it, and keeps serving through kube-nginx; after that
uninstall, the new strategy applies and verifies."""

from __future__ import annotations

import pytest

from tests.engine.labkit import apply, lab_profile, snapshot, states, uninstall

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def clean(lab):
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    yield
    for strategy in ("haproxy-keepalived", "local-nginx"):
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
