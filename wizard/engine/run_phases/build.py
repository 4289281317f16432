"""The run's ``build``: the strategy's prepare step (local-nginx's kube-nginx from source or the
operator's binary), once, before any node is touched; it may add files to every node's plan (an
uninstall's only lists them, to put back what they replaced). A failure stops the run: no node
is touched."""

from __future__ import annotations

from wizard.engine.events import Event, Status
from wizard.engine.hook_events import reporter
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.run import Run
from wizard.errors import PrepareFailed


def build(run: Run) -> Outcome:
    strategy, profile, emit = run.strategy, run.profile, run.emit
    if not strategy.needs_prepare(profile):
        return Status.UNCHANGED, "", ()
    try:
        run.plan = strategy.prepare(
            profile,
            run.plan,
            reporter(emit, PhaseName.BUILD),
            run.open_for,
            dry_run=run.options.dry_run,
            uninstall=run.uninstall,
        )
    except PrepareFailed as exc:
        emit(Event(None, PhaseName.BUILD, Status.FAILED, str(exc), exc.lines, progress=1.0))
        raise RunStopped(str(exc), exc.lines) from None
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(PhaseName.BUILD, 0.0, run=build, dry_run=build)
