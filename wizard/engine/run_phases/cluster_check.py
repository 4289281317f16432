"""The run's cluster check: what no single node can tell, the strategy's check on the nodes it
kept open (haproxy-keepalived: exactly one node holds the VIP), reported as ``verify`` events
of the run. Not in a dry run, nor after a cancel."""

from __future__ import annotations

from wizard.engine.events import Status
from wizard.engine.hook_events import reporter
from wizard.engine.phase import Outcome, Phase, PhaseName
from wizard.engine.remote import RemoteNode
from wizard.engine.run import Run

TITLE = "cluster check"


def cluster_check(run: Run) -> Outcome:
    if run.options.dry_run or run.cancel.is_set():
        return Status.SKIPPED, "", ()
    profile, jobs = run.profile, run.jobs
    connected: dict[str, RemoteNode] = {}
    for name in run.strategy.cluster_nodes(profile):
        node = jobs[name].node if name in jobs else None
        if node is not None:
            connected[name] = node
    report = reporter(run.emit, PhaseName.VERIFY)
    run.cluster_problems.extend(run.strategy.cluster_check(profile, connected, report))
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(TITLE, 0.0, run=cluster_check, dry_run=cluster_check)
