"""The run's auth ``preflight``, before any node changes: every node that runs checks asks every
master's /readyz the way its checks will (:mod:`wizard.engine.auth_preflight`); a mode that
would mark every master down stops the run, saying which mode the cluster needs. No node is
touched then. An uninstall has none."""

from __future__ import annotations

from wizard.engine import auth_preflight
from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.run import Run


def check_auth(run: Run) -> Outcome:
    if run.uninstall:
        return Status.UNCHANGED, "", ()
    path = run.profile.health_check.path
    checkers = [
        name
        for name in run.selected
        if any(path in f.content for f in run.plan.for_node(name).files)
    ]
    if not checkers:
        return Status.UNCHANGED, "", ()
    emit = run.emit
    emit(Event(None, PhaseName.PREFLIGHT, Status.STARTED, "how the checks read /readyz"))
    problems, seen = auth_preflight.run_preflight(
        run.profile, checkers, run.open_for, run.options.concurrency
    )
    if problems:
        message = "; ".join(problems)
        emit(Event(None, PhaseName.PREFLIGHT, Status.FAILED, message, tuple(problems)))
        raise RunStopped(message, tuple(problems), step="the auth preflight")
    emit(Event(None, PhaseName.PREFLIGHT, Status.OK, seen[-1], tuple(seen[:-1])))
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(PhaseName.PREFLIGHT, 0.0, run=check_auth, dry_run=check_auth)
