"""``run_apply`` and ``run_uninstall``: the whole run of one rendered plan — the run's phases in
order (:mod:`wizard.engine.run_phases.order`: the strategy's build, the auth preflight, the
certificate preflight of a run that repoints clients, the node jobs, the nodes in waves through
a bounded pool, the cluster check, disconnect), walked by the same runner as a node's phases,
then the run state and the JSON-lines log.

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
from dataclasses import replace

from wizard.engine.connector import SshConnector
from wizard.engine.events import Event, JsonLinesSink, MultiSink, Status
from wizard.engine.locks import LockHolder, profile_lock
from wizard.engine.model import ApplyOptions, NodeResult, NodeState, RunSummary, Secrets
from wizard.engine.phase import PhaseName, RunMode, RunStopped
from wizard.engine.run import Run
from wizard.engine.run_phases.order import RUN_APPLY, RUN_UNINSTALL
from wizard.engine.runner import walk
from wizard.engine.runstate import RunState, keep_runs, last_run, new_run_id, prune_runs
from wizard.engine.shared_connections import Connector, SharedConnections
from wizard.errors import KubehaError
from wizard.render import RenderPlan

__all__ = ["Connector", "Run", "run_apply", "run_uninstall", "select_nodes"]

REDACTED = "********"


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
            phases = RUN_UNINSTALL if mode is RunMode.UNINSTALL else RUN_APPLY
            try:  # each phase reports its own events; one that fails raises RunStopped
                walk(run, phases, [], stop_on_cancel=False, readable=())
            except RunStopped as exc:
                return _stopped_before_nodes(run, exc)
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

    def stamped(event: Event) -> None:
        fan_out(replace(event, run_id=run_id))

    emit = redactor(secrets, stamped)
    ssh = SshConnector(profile, options, secrets, emit) if connector is None else None
    if ssh is not None:
        opened.append(ssh)
    direct = connector or ssh
    assert direct is not None
    # Closed before the connector's jump hosts; a preflight's connection is its node job's.
    open_for = SharedConnections(direct, options.concurrency)
    opened.append(open_for)
    cancel = cancel or threading.Event()
    run = Run(plan, options, mode, cancel, emit, open_for, holder, state, selected, opened=opened)
    what = f"{mode} of {profile.name} ({profile.strategy}) on {len(selected)} node(s), run {run_id}"
    emit(Event(None, PhaseName.RUN, Status.STARTED, what))
    for name in skipped:
        emit(Event(name, PhaseName.RUN, Status.SKIPPED, "done in the previous run", progress=1.0))
    return run


def _finish(run: Run) -> RunSummary:
    """The summary, the run's last event and its state on disk."""
    summary = RunSummary(
        run_id=run.holder.run_id,
        profile=run.profile.name,
        nodes=tuple(run.results[name] for name in run.selected),
        log_path=run.state.log_path,
        cluster_problems=tuple(run.cluster_problems),
        objects=tuple(run.objects),
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


def _stopped_before_nodes(run: Run, stopped: RunStopped) -> RunSummary:
    """A phase before the nodes (the build, a preflight) failed: every node is
    left as it was."""
    step = stopped.step or run.strategy.prepare_title or "the build"  # the strategy's words
    reason = f"not started: {step} failed ({stopped})"
    for name in run.selected:
        run.emit(Event(name, PhaseName.RUN, Status.SKIPPED, reason, progress=1.0))
        run.state.set_node(name, NodeState.UNTOUCHED.value)
    nodes = tuple(NodeResult(name, NodeState.UNTOUCHED, reason) for name in run.selected)
    summary = RunSummary(
        run_id=run.holder.run_id, profile=run.profile.name, nodes=nodes, log_path=run.state.log_path
    )
    what = step.removeprefix("the ")
    message = f"{what} failed: {stopped}; no node was touched"
    run.emit(Event(None, PhaseName.RUN, Status.FAILED, message))
    run.state.finish(False)
    return summary
