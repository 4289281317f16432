"""The run's auth ``preflight``, before any node changes: the first few nodes that run checks
(those the run changes first) ask every master's /readyz the way their checks will
(:mod:`wizard.engine.auth_preflight`); a mode that would mark every master down stops the run,
saying which mode the cluster needs. No node is touched then. Every other node that runs checks
asks the same in its own job, before anything changes there. An uninstall has none."""

from __future__ import annotations

from wizard.engine import auth_preflight
from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.run import Run


def check_auth(run: Run) -> Outcome:
    if run.uninstall:
        return Status.UNCHANGED, "", ()
    checkers = checking_nodes(run)
    if not checkers:
        return Status.UNCHANGED, "", ()
    sample = checkers[: max(1, min(auth_preflight.SAMPLE, run.options.concurrency))]
    run.ask_in_job.update(checkers[len(sample) :])
    emit = run.emit
    emit(Event(None, PhaseName.PREFLIGHT, Status.STARTED, "how the checks read /readyz"))
    problems, seen = auth_preflight.run_preflight(
        run.profile, sample, run.open_for.lease, run.options.concurrency
    )
    if problems:
        message = "; ".join(problems)
        emit(Event(None, PhaseName.PREFLIGHT, Status.FAILED, message, tuple(problems)))
        raise RunStopped(message, tuple(problems), step="the auth preflight")
    emit(Event(None, PhaseName.PREFLIGHT, Status.OK, seen[-1], tuple(seen[:-1])))
    return Status.OK, "", ()


def checking_nodes(run: Run) -> list[str]:
    """The selected nodes that run checks of the masters, in the order the run changes them
    (the strategy's waves)."""
    path = run.profile.health_check.path
    ordered = [name for wave in run.waves for name in wave]
    return [n for n in ordered if any(path in f.content for f in run.plan.for_node(n).files)]


PHASE: Phase[Run] = Phase(PhaseName.PREFLIGHT, 0.0, run=check_auth, dry_run=check_auth)
