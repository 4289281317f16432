"""What clients see while kubeha changes strategy on the same nodes: the drill's loops (new
connections, a kept-alive client, watch streams) run on every node while ``kubeha apply`` of the
other profile runs; its "fault" is that apply (:class:`ApplyAsFault`).

local-nginx <-> local-haproxy is a take-over in place (both bind the port with SO_REUSEPORT;
wizard.engine.phases.retire); any other change is refused before a node changes, and the row says so.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from wizard.engine.apply import run_apply
from wizard.engine.drill import DrillReport, DrillTiming, Fault
from wizard.engine.drill_run import run_drill
from wizard.engine.model import ApplyOptions, RunSummary
from wizard.engine.phases.retire import DRAIN_S
from wizard.profile import Profile
from wizard.render import build_plan


class ApplyAsFault(Fault):
    """The drill's fault is an apply of ``profile``, started at the fault's moment and joined at
    the restore (so every request that goes wrong while it runs counts as failed, none as lost
    in flight); its summary and duration kept."""

    def __init__(self, profile: Profile, verify_timeout: float = 40) -> None:
        self.profile = profile
        self.verify_timeout = verify_timeout
        self.summary: RunSummary | None = None
        self.seconds = 0.0
        self._thread: threading.Thread | None = None

    def _apply(self) -> None:
        began = time.monotonic()
        self.summary = run_apply(
            build_plan(self.profile), ApplyOptions(verify_timeout=self.verify_timeout), _quiet
        )
        self.seconds = time.monotonic() - began

    def take(self) -> None:
        self._thread = threading.Thread(target=self._apply, daemon=True)
        self._thread.start()

    def restore(self) -> None:
        assert self._thread is not None
        self._thread.join(self.verify_timeout + 600)


def _quiet(_event) -> None:
    pass


@dataclass(frozen=True)
class Change:
    report: DrillReport
    summary: RunSummary
    apply_s: float  # the apply's wall time
    within: bool  # the apply ended before the clients' loops did


def timing_for(apply_s: float) -> DrillTiming:
    """Loops long enough for an apply that takes up to three times ``apply_s`` (a re-apply
    measured on this host just before) plus the old balancer's drain (:data:`DRAIN_S`; the
    restore waits for the apply), then 6 s of clients on the new balancer."""
    lead, hold = 2.0, 3 * apply_s + DRAIN_S
    return DrillTiming(lead=lead, hold=hold, duration=lead + hold + 6.0)


def reapply_seconds(profile: Profile) -> float:
    """A re-apply of what runs (connect, facts, verify on every node): this host's pace."""
    began = time.monotonic()
    summary = run_apply(build_plan(profile), ApplyOptions(verify_timeout=40), _quiet)
    if not summary.ok:
        raise RuntimeError(f"{profile.name} does not re-apply cleanly: {summary.nodes}")
    return time.monotonic() - began


def measure_change(current: Profile, target: Profile) -> Change:
    """Clients on every node of ``current`` (installed and serving) while ``target`` applies."""
    apply_s = reapply_seconds(current)
    timing = timing_for(apply_s)
    fault = ApplyAsFault(target)
    report = run_drill(current, current.masters[0].name, "kill", timing, fault=fault)
    report = dataclasses.replace(report, kind=f"{current.strategy} -> {target.strategy}")
    assert fault.summary is not None
    within = fault.seconds < timing.hold
    return Change(report, fault.summary, fault.seconds, within)


def rows(lab, log=print) -> list:
    """The failover table's strategy-change rows: local-nginx -> local-haproxy and back (a
    take-over in place), and local-nginx -> haproxy-keepalived (refused before a node changes),
    each with the drill's clients on every node."""
    from bench.failover import deploy, lab_profile, row, run_uninstall_all

    nginx, haproxy = lab_profile(lab, "local-nginx"), lab_profile(lab, "local-haproxy")
    keepalived = lab_profile(lab, "haproxy-keepalived")
    result = []
    deploy(lab, "local-nginx")
    for current, target in ((nginx, haproxy), (haproxy, nginx), (nginx, keepalived)):
        log(f"strategy change: {current.strategy} -> {target.strategy}")
        change = measure_change(current, target)
        states = {n.state.value for n in change.summary.nodes}
        how = (
            f"take-over, apply {change.apply_s:.1f} s"
            if change.summary.ok
            else f"{'refused, every node untouched' if states == {'untouched'} else 'FAILED'}"
        )
        result.append(
            dataclasses.replace(
                row(f"kubeha {current.strategy} → {target.strategy}", change.report),
                kind="strategy change",
                master=f"({how})",
            )
        )
    run_uninstall_all(lab)
    return result
