"""A run of the engine against in-memory nodes (:class:`tests.support.fake_node.FakeCluster`),
with the short verify time fakes need, and the events it emitted."""

from __future__ import annotations

from wizard.engine.apply import run_apply
from wizard.engine.events import Event
from wizard.engine.model import ApplyOptions, RunSummary
from wizard.profile import Profile
from wizard.render import build_plan


def apply_on(profile: Profile, cluster, **options) -> tuple[RunSummary, list[Event]]:
    """``kubeha apply`` of ``profile`` on ``cluster``: its summary and every event."""
    events: list[Event] = []
    summary = run_apply(
        build_plan(profile),
        ApplyOptions(verify_timeout=0.5, **options),
        events.append,
        connector=cluster,
    )
    return summary, events
