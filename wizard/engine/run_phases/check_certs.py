"""The run's certificate ``preflight``, with ``[clients] repoint = true`` (after the auth
preflight, :mod:`wizard.engine.run_phases.check_auth`): every master's serving
certificate is issued by the cluster CA and covers the host clients will dial through the load
balancer (:mod:`wizard.engine.cert_preflight`), before any node changes. A problem stops the
run: no node is touched. An uninstall has none."""

from __future__ import annotations

from wizard.engine import cert_preflight
from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.run import Run


def check_certs(run: Run) -> Outcome:
    if run.uninstall or not run.profile.clients.repoint:
        return Status.UNCHANGED, "", ()
    emit = run.emit
    emit(Event(None, PhaseName.PREFLIGHT, Status.STARTED, "serving certificates of the masters"))
    problems, checked = cert_preflight.run_preflight(
        run.profile, run.plan.server_url, run.open_for.lease, run.plan.former_server_urls
    )
    if problems:
        message = "; ".join(problems)
        emit(Event(None, PhaseName.PREFLIGHT, Status.FAILED, message, tuple(problems)))
        raise RunStopped(message, tuple(problems), step="the certificate preflight")
    emit(Event(None, PhaseName.PREFLIGHT, Status.OK, "every master's certificate", tuple(checked)))
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(PhaseName.PREFLIGHT, 0.0, run=check_certs, dry_run=check_certs)
