"""Fixtures for the verify and drill lab tests: one strategy deployed per module."""

from __future__ import annotations

from tests.engine.labkit import apply, lab_profile, uninstall

STRATEGIES = ("local-nginx", "haproxy-keepalived")


def deployed(lab, strategy: str):
    """Remove whatever strategy the lab carries, deploy ``strategy``, return its profile."""
    for other in STRATEGIES:
        uninstall(lab_profile(lab, other))
    profile = lab_profile(lab, strategy)
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    return profile
