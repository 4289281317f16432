"""``run_apply`` and ``run_uninstall``: the whole run of one rendered plan — the run-level steps
in order (:data:`APPLY_STEPS`: the kube-nginx build, the certificate preflight of a run that
repoints clients, the node jobs, the nodes in waves through a
bounded pool, the cluster check, disconnect), then the run state and the JSON-lines log.

The plan is the caller's: the one the wizard previewed, or the one the CLI rendered after its
single validation. The engine renders nothing and validates nothing again.

A failing node never stops the others. A cancel (Ctrl-C or the wizard's Cancel) stops new steps;
each node finishes or rolls back the step it is in.

A run that changes nodes (not a dry run) holds this machine's lock of the profile for its whole
length and each node's lock from connect to disconnect (:mod:`wizard.engine.locks`,
:mod:`wizard.engine.node_lock`); both are released on every way out, errors included.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from wizard.engine import auth_preflight, cert_preflight
from wizard.engine.clients import client_plan
from wizard.engine.connector import SshConnector
from wizard.engine.events import Event, JsonLinesSink, MultiSink, Status
from wizard.engine.hook_events import reporter
from wizard.engine.job import Job
from wizard.engine.locks import LockHolder, profile_lock
from wizard.engine.model import ApplyOptions, NodeResult, NodeState, RunSummary, Secrets
from wizard.engine.node_job import NodeJob
from wizard.engine.phase import PhaseName, RunMode
from wizard.engine.pool import run_pool
from wizard.engine.probe import ProbeSettings
from wizard.engine.remote import RemoteNode
from wizard.engine.runstate import RunState, keep_runs, last_run, new_run_id, prune_runs
from wizard.engine.uninstall_job import ClientsFirstJob, UninstallJob
from wizard.errors import KubehaError, PrepareFailed
from wizard.profile import Profile
from wizard.render import RenderPlan
from wizard.strategies import registry
from wizard.strategies.base import Strategy

REDACTED = "********"

Connector = Callable[[str], Callable[[], RemoteNode]]  # node name -> opens that node


def redactor(secrets: Secrets, sink: Callable[[Event], None]) -> Callable[[Event], None]:
    values = secrets.values()
    if not values:
        return sink

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return text

    def emit(event: Event) -> None:
        sink(
            replace(event, message=clean(event.message), lines=tuple(clean(x) for x in event.lines))
        )

    return emit


def select_nodes(plan: RenderPlan, options: ApplyOptions) -> tuple[list[str], list[str]]:
    """(the nodes to run, the nodes skipped because a previous run finished them)."""
    profile = plan.profile
    names = [n.node for n in plan.nodes]
    unknown = [n for n in options.only if n not in names]
    if unknown:
        raise KubehaError(
            f"--only: no node named {', '.join(unknown)} in profile {profile.name!r} (nodes: {', '.join(names)})"
        )
    selected = [n for n in names if not options.only or n in options.only]
    skipped: list[str] = []
    if options.resume:
        previous = last_run(profile.name)
        if previous is None:
            raise KubehaError(f"--resume: profile {profile.name!r} has no previous run to resume")
        done = previous.done_nodes()
        skipped = [n for n in selected if n in done]
        selected = [n for n in selected if n not in done]
    return selected, skipped


def run_apply(
    plan: RenderPlan,
    options: ApplyOptions,
    sink: Callable[[Event], None],
    cancel: threading.Event | None = None,
    secrets: Secrets | None = None,
    connector: Connector | None = None,
) -> RunSummary:
    """Apply the plan: every selected node to its new verified config, or back to its old."""
    mode = RunMode.DRY_RUN if options.dry_run else RunMode.APPLY
    return _run(plan, options, sink, cancel, secrets, connector, mode)


def run_uninstall(
    plan: RenderPlan,
    options: ApplyOptions,
    sink: Callable[[Event], None],
    cancel: threading.Event | None = None,
    secrets: Secrets | None = None,
    connector: Connector | None = None,
) -> RunSummary:
    """Remove what kubeha installed and put back the files it replaced (there is no dry run of
    an uninstall: ``options.dry_run`` is not read)."""
    options = replace(options, dry_run=False)
    return _run(plan, options, sink, cancel, secrets, connector, RunMode.UNINSTALL)


@dataclass
class Run:
    """One run, as its steps see it."""

    plan: RenderPlan
    options: ApplyOptions
    mode: RunMode
    cancel: threading.Event
    emit: Callable[[Event], None]
    open_for: Connector
    holder: LockHolder
    state: RunState
    selected: list[str]
    jobs: dict[str, Job] = field(default_factory=dict)
    # An uninstall that repoints clients: every node's clients pointed back first, a wave of its own.
    clients_first: dict[str, Job] = field(default_factory=dict)
    results: dict[str, NodeResult] = field(default_factory=dict)
    cluster_problems: list[str] = field(default_factory=list)
    began: float | None = None  # when the first node started
    stopped: str = ""  # why the run stopped before any node (the build failed)
    stopped_by: str = ""  # the step that stopped it (default: the strategy's prepare step)
    opened: list = field(default_factory=list)  # closed on every way out

    @property
    def profile(self) -> Profile:
        return self.plan.profile

    @property
    def strategy(self) -> Strategy:
        return registry.get(self.plan.profile.strategy)

    @property
    def uninstall(self) -> bool:
        return self.mode is RunMode.UNINSTALL


def _run(plan, options, sink, cancel, secrets, connector, mode: RunMode) -> RunSummary:
    profile = plan.profile
    keep = keep_runs()  # a bad $KUBEHA_KEEP_RUNS stops the run before anything happens
    holder = LockHolder.here(new_run_id(), profile.name)
    opened: list = []  # the log, the SSH connector, the node jobs: closed on every way out
    with profile_lock(holder, enabled=mode is not RunMode.DRY_RUN):
        try:
            run = _start(
                plan, options, sink, cancel, secrets, connector, mode, holder, keep, opened
            )
            for step in APPLY_STEPS if mode is not RunMode.UNINSTALL else UNINSTALL_STEPS:
                if run.stopped:
                    break
                step(run)
            return _finish(run)
        finally:
            for thing in reversed(opened):  # node jobs first: each releases its node's lock
                with contextlib.suppress(Exception):  # closing must not fail the run
                    close = getattr(thing, "disconnect", None) or thing.close
                    close()


def _start(plan, options, sink, cancel, secrets, connector, mode, holder, keep, opened) -> Run:
    """The run's state, log and connector, and its first events."""
    profile = plan.profile
    secrets = secrets or Secrets()
    selected, skipped = select_nodes(plan, options)
    run_id = holder.run_id
    state = RunState(profile.name, run_id, selected, options.dry_run)
    prune_runs(profile.name, keep, current=run_id)
    log = JsonLinesSink(state.log_path)
    opened.append(log)
    fan_out = MultiSink([log, sink])

    def emit(event: Event) -> None:
        fan_out(replace(event, run_id=run_id))

    emit = redactor(secrets, emit)
    ssh = SshConnector(profile, options, secrets, emit) if connector is None else None
    if ssh is not None:
        opened.append(ssh)
    open_for = connector or ssh
    assert open_for is not None
    cancel = cancel or threading.Event()
    run = Run(plan, options, mode, cancel, emit, open_for, holder, state, selected, opened=opened)
    what = f"{mode} of {profile.name} ({profile.strategy}) on {len(selected)} node(s), run {run_id}"
    emit(Event(None, PhaseName.RUN, Status.STARTED, what))
    for name in skipped:
        emit(Event(name, PhaseName.RUN, Status.SKIPPED, "done in the previous run", progress=1.0))
    return run


# --- the run-level steps, in order ------------------------------------------------------------


def build(run: Run) -> None:
    """The strategy's prepare step (local-nginx's kube-nginx from source or the operator's
    binary): once, before any node is touched; it may add files to every node's plan (an
    uninstall's only lists them, to put back what they replaced). A failure stops the run: no
    node is touched."""
    strategy, profile, emit = run.strategy, run.profile, run.emit
    if strategy.needs_prepare(profile):  # e.g. kube-nginx, built once before any node
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
            run.stopped = str(exc)


def preflight(run: Run) -> None:
    """Before any node changes: every node that runs checks asks every master's /readyz the
    way its checks will (:mod:`wizard.engine.auth_preflight`: a mode that would mark every
    master down stops the run, saying which mode the cluster needs); with ``[clients] repoint
    = true``, every master's serving certificate is issued by the cluster CA and covers the
    host clients will dial through the load balancer (:mod:`wizard.engine.cert_preflight`).
    A problem stops the run: no node is touched."""
    if run.uninstall:
        return
    emit = run.emit
    path = run.profile.health_check.path
    checkers = [
        name
        for name in run.selected
        if any(path in f.content for f in run.plan.for_node(name).files)
    ]
    if checkers:
        emit(Event(None, PhaseName.PREFLIGHT, Status.STARTED, "how the checks read /readyz"))
        problems, seen = auth_preflight.run_preflight(
            run.profile, checkers, run.open_for, run.options.concurrency
        )
        if problems:
            message = "; ".join(problems)
            emit(Event(None, PhaseName.PREFLIGHT, Status.FAILED, message, tuple(problems)))
            run.stopped, run.stopped_by = message, "the auth preflight"
            return
        emit(Event(None, PhaseName.PREFLIGHT, Status.OK, seen[-1], tuple(seen[:-1])))
    if not run.profile.clients.repoint:
        return
    emit(Event(None, PhaseName.PREFLIGHT, Status.STARTED, "serving certificates of the masters"))
    problems, checked = cert_preflight.run_preflight(
        run.profile, run.plan.server_url, run.open_for, run.plan.former_server_urls
    )
    if problems:
        message = "; ".join(problems)
        emit(Event(None, PhaseName.PREFLIGHT, Status.FAILED, message, tuple(problems)))
        run.stopped, run.stopped_by = message, "the certificate preflight"
        return
    emit(Event(None, PhaseName.PREFLIGHT, Status.OK, "every master's certificate", tuple(checked)))


def make_jobs(run: Run) -> None:
    """A job per selected node: its part of the plan, its connection, the run's lock holder
    (none in a dry run: a dry run locks no node), and the kubeconfigs to repoint, if any."""
    options, emit, plan = run.options, run.emit, run.plan
    lock = run.holder if run.mode is not RunMode.DRY_RUN else None
    strategy = run.profile.strategy
    clients = client_plan(run.profile, plan.server_url, plan.former_server_urls)
    for name in run.selected:
        node_plan, opener = plan.for_node(name), run.open_for(name)
        if run.uninstall:
            job: Job = UninstallJob(
                node_plan, opener, emit, options, run.cancel, lock, clients=clients
            )
            if clients is not None:
                run.clients_first[name] = ClientsFirstJob(
                    node_plan, opener, emit, options, run.cancel, lock, clients=clients
                )
        else:
            job = NodeJob(
                node_plan,
                opener,
                emit,
                options,
                run.cancel,
                lock,
                strategy=strategy,
                clients=clients,
                probe_settings=ProbeSettings.of(run.profile),
            )
        run.jobs[name] = job
    run.opened.extend([*run.clients_first.values(), *run.jobs.values()])


def nodes(run: Run) -> None:
    """The nodes through the pool, wave after wave (:func:`waves`)."""
    strategy, plan, results, emit = run.strategy, run.plan, run.results, run.emit
    run.began = time.monotonic()
    # Connections close as each node finishes, except the ones the strategy's cluster check
    # after the run needs (haproxy-keepalived: who holds the VIP).
    keep_open = set() if run.uninstall else set(strategy.cluster_nodes(run.profile))
    if run.clients_first and not _clients_pointed_back(run):
        return
    for index, wave in enumerate(waves(strategy, plan, list(run.jobs), run.uninstall)):
        if index > 0 and results and not any(r.ok for r in results.values()):
            for name in wave:  # nothing carries the load balancer: do not wait on it
                reason = "not verified: no load-balancer node came up"
                emit(Event(name, PhaseName.VERIFY, Status.SKIPPED, reason, progress=1.0))
                results[name] = NodeResult(name, NodeState.UNTOUCHED, reason)
                run.state.set_node(name, NodeState.UNTOUCHED.value)
            continue
        ready = {name: run.jobs[name] for name in wave}
        results.update(run_pool(ready, run.options, run.cancel, run.state, emit, keep_open))


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


def cluster_check(run: Run) -> None:
    """What no single node can tell, the strategy's check on the nodes it kept open
    (haproxy-keepalived: exactly one node holds the VIP)."""
    if run.options.dry_run or run.cancel.is_set():
        return
    profile, jobs = run.profile, run.jobs
    connected = {
        name: jobs[name].node  # type: ignore[attr-defined]
        for name in run.strategy.cluster_nodes(profile)
        if name in jobs and jobs[name].node is not None  # type: ignore[attr-defined]
    }
    report = reporter(run.emit, PhaseName.VERIFY)
    run.cluster_problems = run.strategy.cluster_check(profile, connected, report)


def disconnect(run: Run) -> None:
    """Every node's lock released and connection closed (those kept open for the check too)."""
    for job in run.jobs.values():
        with contextlib.suppress(Exception):  # closing must not fail the run
            job.disconnect()


APPLY_STEPS: tuple[Callable[[Run], None], ...] = (
    build,
    preflight,
    make_jobs,
    nodes,
    cluster_check,
    disconnect,
)
UNINSTALL_STEPS: tuple[Callable[[Run], None], ...] = (build, make_jobs, nodes, disconnect)


def _finish(run: Run) -> RunSummary:
    """The summary, the run's last event and its state on disk."""
    if run.stopped:
        return _stopped_before_nodes(run)
    summary = RunSummary(
        run_id=run.holder.run_id,
        profile=run.profile.name,
        nodes=tuple(run.results[name] for name in run.selected),
        log_path=run.state.log_path,
        cluster_problems=tuple(run.cluster_problems),
    )
    ok_count = sum(1 for n in summary.nodes if n.ok)
    problems = run.cluster_problems
    run.emit(
        Event(
            None,
            PhaseName.RUN,
            Status.OK if summary.ok else Status.FAILED,
            f"{ok_count}/{len(summary.nodes)} node(s) ok"
            + (f"; {'; '.join(problems)}" if problems else ""),
            duration=time.monotonic() - (run.began or time.monotonic()),
        )
    )
    run.state.finish(summary.ok)
    return summary


def _stopped_before_nodes(run: Run) -> RunSummary:
    """A step before the nodes (the build, the certificate preflight) failed: every node is
    left as it was."""
    step = run.stopped_by or run.strategy.prepare_title
    reason = f"not started: {step} failed ({run.stopped})"
    for name in run.selected:
        run.emit(Event(name, PhaseName.RUN, Status.SKIPPED, reason, progress=1.0))
        run.state.set_node(name, NodeState.UNTOUCHED.value)
    nodes = tuple(NodeResult(name, NodeState.UNTOUCHED, reason) for name in run.selected)
    summary = RunSummary(
        run_id=run.holder.run_id, profile=run.profile.name, nodes=nodes, log_path=run.state.log_path
    )
    what = "build" if not run.stopped_by else run.stopped_by.removeprefix("the ")
    message = f"{what} failed: {run.stopped}; no node was touched"
    run.emit(Event(None, PhaseName.RUN, Status.FAILED, message))
    run.state.finish(False)
    return summary


# --- what a strategy adds to the run ----------------------------------------------------------


def waves(
    strategy: Strategy, plan: RenderPlan, names: list[str], uninstall: bool
) -> list[list[str]]:
    """The strategy's waves of nodes (haproxy-keepalived: the load-balancer carriers first);
    an uninstall runs every node at once."""
    return [names] if uninstall else strategy.waves(plan, names)
