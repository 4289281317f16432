"""The run's ``disconnect``: every node's lock released and connection closed (those kept
open for the cluster check too); each node reports its own ``disconnect``."""

from __future__ import annotations

import contextlib

from wizard.engine.events import Status
from wizard.engine.phase import Outcome, Phase, PhaseName
from wizard.engine.run import Run


def disconnect(run: Run) -> Outcome:
    for job in run.jobs.values():
        with contextlib.suppress(Exception):  # closing must not fail the run
            job.disconnect()
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(PhaseName.DISCONNECT, 0.0, run=disconnect, dry_run=disconnect)
