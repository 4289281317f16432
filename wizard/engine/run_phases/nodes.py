"""The run's nodes: their jobs through the bounded pool (:mod:`wizard.engine.pool`), wave after
wave (the strategy's waves: haproxy-keepalived's load-balancer carriers first; an uninstall runs
every node at once). A wave after one where no node came up is not waited on. An uninstall
that repoints clients points every node's clients back first, and removes no load balancer
while one node's are not."""

from __future__ import annotations

import time

from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState
from wizard.engine.phase import Outcome, Phase, PhaseName
from wizard.engine.pool import run_pool
from wizard.engine.run import Run

TITLE = "nodes"  # each node reports its own events


def nodes(run: Run) -> Outcome:
    strategy, results, emit = run.strategy, run.results, run.emit
    run.began = time.monotonic()
    # Connections close as each node finishes, except the ones the strategy's cluster check
    # after the run needs (haproxy-keepalived: who holds the VIP).
    keep_open = set() if run.uninstall else set(strategy.cluster_nodes(run.profile))
    if run.clients_first and not _clients_pointed_back(run):
        return Status.FAILED, "", ()
    for index, wave in enumerate(run.waves):
        if index > 0 and results and not any(r.ok for r in results.values()):
            for name in wave:  # nothing carries the load balancer: do not wait on it
                reason = "not verified: no load-balancer node came up"
                emit(Event(name, PhaseName.VERIFY, Status.SKIPPED, reason, progress=1.0))
                results[name] = NodeResult(name, NodeState.UNTOUCHED, reason)
                run.state.set_node(name, NodeState.UNTOUCHED.value)
            continue
        ready = {name: run.jobs[name] for name in wave}
        results.update(run_pool(ready, run.options, run.cancel, run.state, emit, keep_open))
    return Status.OK, "", ()


def _clients_pointed_back(run: Run) -> bool:
    """An uninstall's first wave: every node's clients pointed back. Where one node's are not,
    no load balancer is removed (that node's clients may use another node's: the VIP) and
    every node says so."""
    first = run_pool(run.clients_first, run.options, run.cancel, run.state, run.emit)
    stuck = sorted(name for name, result in first.items() if not result.ok)
    if not stuck:
        return True
    for name, result in first.items():
        reason = (
            result.reason
            if name in stuck
            else f"clients pointed back; load balancer kept: {', '.join(stuck)} could not "
            "point its clients back, and they may still use it"
        )
        run.emit(Event(name, PhaseName.DONE, Status.FAILED, reason, progress=1.0))
        run.results[name] = NodeResult(name, NodeState.BROKEN, reason, result.changed_files)
        run.state.set_node(name, NodeState.BROKEN.value)
    return False


PHASE: Phase[Run] = Phase(TITLE, 0.0, run=nodes, dry_run=nodes)
