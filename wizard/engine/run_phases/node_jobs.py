"""The run's node jobs: a job per selected node, its part of the plan, its connection, the
run's lock holder (none in a dry run: a dry run locks no node), and the kubeconfigs to repoint,
if any (an uninstall that repoints clients has a first wave per node that points them back)."""

from __future__ import annotations

from wizard.engine import auth_preflight
from wizard.engine.clients import client_plan
from wizard.engine.events import Status
from wizard.engine.job import Job
from wizard.engine.node_job import NodeJob
from wizard.engine.phase import Outcome, Phase, RunMode
from wizard.engine.probe import ProbeSettings
from wizard.engine.run import Run
from wizard.engine.uninstall_job import ClientsFirstJob, UninstallJob

TITLE = "jobs"  # no event of its own


def make_jobs(run: Run) -> Outcome:
    options, emit, plan = run.options, run.emit, run.plan
    lock = run.holder if run.mode is not RunMode.DRY_RUN else None
    strategy = run.profile.strategy
    clients = client_plan(run.profile, plan.server_url, plan.former_server_urls)
    checker = auth_preflight.node_check(run.profile)
    for name in run.selected:
        # what every job of the node is made with: its plan, connection, events, options,
        # the run's cancel and lock holder
        common = (plan.for_node(name), run.open_for(name), emit, options, run.cancel, lock)
        if run.uninstall:
            job: Job = UninstallJob(*common, clients=clients, strategy=strategy)
            if clients is not None:
                run.clients_first[name] = ClientsFirstJob(
                    *common, clients=clients, strategy=strategy
                )
        else:
            job = NodeJob(
                *common,
                strategy=strategy,
                clients=clients,
                probe_settings=ProbeSettings.of(run.profile),
                auth_check=checker if name in run.ask_in_job else None,
            )
        run.jobs[name] = job
    run.opened.extend([*run.clients_first.values(), *run.jobs.values()])
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(TITLE, 0.0, run=make_jobs, dry_run=make_jobs)
