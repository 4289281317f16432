"""``connect``: open the node and take its lock for the run (when the run locks nodes; a dry
run does not). The connection is the job's own (:class:`~wizard.engine.job.NodeWork`)."""

from __future__ import annotations

from wizard.engine import node_lock
from wizard.engine.events import Status
from wizard.engine.job import NodeWork
from wizard.engine.phase import Outcome, Phase, PhaseName


def connect(job: NodeWork) -> Outcome:
    job.node = job.connect()
    if job.lock is None:
        return Status.OK, "connected", ()
    message = node_lock.take(job.node, job.lock)
    job.locked = True
    return Status.OK, f"connected; {message}", ()


PHASE: Phase[NodeWork] = Phase(PhaseName.CONNECT, 0.05, run=connect, dry_run=connect)
