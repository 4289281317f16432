"""``run_apply``: the whole run for one profile — every selected node through its phases in a
bounded parallel pool, a cluster check, disconnect, the run state and the JSON-lines log.

A failing node never stops the others. A cancel (Ctrl-C or the wizard's Cancel) stops new steps;
each node finishes or rolls back the step it is in.

A run that changes nodes (not a dry run) holds this machine's lock of the profile for its whole
length and each node's lock from connect to disconnect (:mod:`wizard.engine.locks`,
:mod:`wizard.engine.node_lock`); both are released on every way out, errors included.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from wizard.engine.connector import SshConnector
from wizard.engine.events import Event, JsonLinesSink, MultiSink, Status
from wizard.engine.hook_events import reporter
from wizard.engine.locks import LockHolder, profile_lock
from wizard.engine.model import ApplyOptions, NodeResult, NodeState, RunSummary, Secrets
from wizard.engine.node_job import NodeJob
from wizard.engine.runstate import RunState, keep_runs, last_run, new_run_id, prune_runs
from wizard.engine.uninstall_job import UninstallJob
from wizard.errors import KubehaError, PrepareFailed
from wizard.profile import Profile
from wizard.render import RenderPlan, build_plan
from wizard.strategies import registry
from wizard.strategies.base import Strategy

REDACTED = "********"

Connector = Callable[[str], Callable[[], object]]


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


def select_nodes(
    plan: RenderPlan, options: ApplyOptions, profile: Profile
) -> tuple[list[str], list[str]]:
    """(the nodes to run, the nodes skipped because a previous run finished them)."""
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
    profile: Profile,
    options: ApplyOptions,
    sink: Callable[[Event], None],
    cancel: threading.Event | None = None,
    secrets: Secrets | None = None,
    connector: Connector | None = None,
) -> RunSummary:
    """Apply the profile: every selected node to its new verified config, or back to its old."""
    return _run(profile, options, sink, cancel, secrets, connector, uninstall=False)


def run_uninstall(
    profile: Profile,
    options: ApplyOptions,
    sink: Callable[[Event], None],
    cancel: threading.Event | None = None,
    secrets: Secrets | None = None,
    connector: Connector | None = None,
) -> RunSummary:
    """Remove what kubeha installed and put back the files it replaced."""
    return _run(profile, options, sink, cancel, secrets, connector, uninstall=True)


def _run(profile, options, sink, cancel, secrets, connector, *, uninstall: bool) -> RunSummary:
    keep = keep_runs()  # a bad $KUBEHA_KEEP_RUNS stops the run before anything happens
    holder = LockHolder.here(new_run_id(), profile.name)
    opened: list = []  # the log, the SSH connector, the node jobs: closed on every way out
    with profile_lock(holder, enabled=uninstall or not options.dry_run):
        try:
            return _locked_run(
                profile, options, sink, cancel, secrets, connector, uninstall, holder, keep, opened
            )
        finally:
            for thing in reversed(opened):  # node jobs first: each releases its node's lock
                with contextlib.suppress(Exception):  # closing must not fail the run
                    close = getattr(thing, "disconnect", None) or thing.close
                    close()


def _locked_run(
    profile, options, sink, cancel, secrets, connector, uninstall, holder, keep, opened
) -> RunSummary:
    secrets = secrets or Secrets()
    plan = build_plan(profile)
    strategy = registry.get(profile.strategy)
    selected, skipped = select_nodes(plan, options, profile)
    cancel = cancel or threading.Event()
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
    mode = "uninstall" if uninstall else "dry run" if options.dry_run else "apply"
    emit(
        Event(
            None,
            "run",
            Status.STARTED,
            f"{mode} of {profile.name} ({profile.strategy}) on {len(selected)} node(s), run {run_id}",
        )
    )
    for name in skipped:
        emit(Event(name, "run", Status.SKIPPED, "done in the previous run", progress=1.0))
    if strategy.needs_prepare(profile):  # e.g. kube-nginx, built once before any node
        try:
            plan = strategy.prepare(
                profile,
                plan,
                reporter(emit, "build"),
                open_for,
                dry_run=options.dry_run,
                uninstall=uninstall,
            )
        except PrepareFailed as exc:
            emit(Event(None, "build", Status.FAILED, str(exc), exc.lines, progress=1.0))
            return _stopped_before_nodes(profile, strategy, selected, state, emit, run_id, exc)
    lock = holder if uninstall or not options.dry_run else None  # a dry run locks no node
    jobs = {
        name: (
            UninstallJob(plan.for_node(name), open_for(name), emit, options, lock=lock)  # type: ignore[arg-type]
            if uninstall
            else NodeJob(
                plan.for_node(name),
                open_for(name),  # type: ignore[arg-type]
                emit,
                options,
                cancel,
                lock=lock,
                strategy=profile.strategy,
            )
        )
        for name in selected
    }
    opened.extend(jobs.values())
    began = time.monotonic()
    results: dict[str, NodeResult] = {}
    # Connections close as each node finishes, except the ones the strategy's cluster check
    # after the run needs (haproxy-keepalived: who holds the VIP).
    keep_open = set() if uninstall else set(strategy.cluster_nodes(profile))
    for index, wave in enumerate(waves(strategy, plan, list(jobs), uninstall)):
        if index > 0 and results and not any(r.ok for r in results.values()):
            for name in wave:  # nothing carries the load balancer: do not wait on it
                reason = "not verified: no load-balancer node came up"
                emit(Event(name, "verify", Status.SKIPPED, reason, progress=1.0))
                results[name] = NodeResult(name, NodeState.UNTOUCHED, reason)
                state.set_node(name, NodeState.UNTOUCHED.value)
            continue
        ready = {name: jobs[name] for name in wave}
        results.update(run_pool(ready, options, cancel, state, emit, keep_open))
    cluster_problems: list[str] = []
    if not (uninstall or options.dry_run or cancel.is_set()):
        connected = {
            name: jobs[name].node
            for name in strategy.cluster_nodes(profile)
            if name in jobs and jobs[name].node is not None
        }
        cluster_problems = strategy.cluster_check(profile, connected, reporter(emit, "verify"))
    for job in jobs.values():
        with contextlib.suppress(Exception):  # closing must not fail the run
            job.disconnect()
    summary = RunSummary(
        run_id=run_id,
        profile=profile.name,
        nodes=tuple(results[name] for name in selected),
        log_path=state.log_path,
        cluster_problems=tuple(cluster_problems),
    )
    ok_count = sum(1 for n in summary.nodes if n.ok)
    emit(
        Event(
            None,
            "run",
            Status.OK if summary.ok else Status.FAILED,
            f"{ok_count}/{len(summary.nodes)} node(s) ok"
            + (f"; {'; '.join(cluster_problems)}" if cluster_problems else ""),
            duration=time.monotonic() - began,
        )
    )
    state.finish(summary.ok)
    return summary


def _stopped_before_nodes(profile, strategy, selected, state, emit, run_id, exc) -> RunSummary:
    """The strategy's prepare step (the build) failed: every node is left as it was."""
    reason = f"not started: {strategy.prepare_title} failed ({exc})"
    for name in selected:
        emit(Event(name, "run", Status.SKIPPED, reason, progress=1.0))
        state.set_node(name, NodeState.UNTOUCHED.value)
    nodes = tuple(NodeResult(name, NodeState.UNTOUCHED, reason) for name in selected)
    summary = RunSummary(run_id=run_id, profile=profile.name, nodes=nodes, log_path=state.log_path)
    emit(Event(None, "run", Status.FAILED, f"build failed: {exc}; no node was touched"))
    state.finish(False)
    return summary


def waves(
    strategy: Strategy, plan: RenderPlan, names: list[str], uninstall: bool
) -> list[list[str]]:
    """The strategy's waves of nodes (haproxy-keepalived: the load-balancer carriers first);
    an uninstall runs every node at once."""
    return [names] if uninstall else strategy.waves(plan, names)


def run_pool(
    jobs: dict,
    options: ApplyOptions,
    cancel: threading.Event,
    state: RunState,
    emit,
    keep_open: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, NodeResult]:
    """Run every job's ``run()`` in a bounded pool; Ctrl-C sets ``cancel`` and waits for the
    nodes to finish or roll back their current step."""
    results: dict[str, NodeResult] = {}

    def run_one(job) -> NodeResult:
        try:
            result = job.run()
        except Exception as exc:  # a bug must not take the other nodes down
            emit(
                Event(
                    job.name, "run", Status.FAILED, f"internal error: {type(exc).__name__}: {exc}"
                )
            )
            changed = bool(getattr(job, "changes", None))
            result = NodeResult(
                job.name,
                NodeState.BROKEN if changed else NodeState.UNTOUCHED,
                f"internal error: {exc}",
            )
        state.set_node(job.name, result.state.value)
        if job.name not in keep_open:
            with contextlib.suppress(Exception):
                job.disconnect()
        return result

    workers = max(1, min(options.concurrency, len(jobs) or 1))
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="kubeha-node"
    ) as pool:
        futures = {pool.submit(run_one, job): name for name, job in jobs.items()}
        pending = set(futures)
        while pending:
            try:
                done, pending = concurrent.futures.wait(pending, timeout=0.2)
            except KeyboardInterrupt:
                if not cancel.is_set():
                    cancel.set()
                    emit(
                        Event(
                            None,
                            "run",
                            Status.INFO,
                            "cancelling: each node finishes or rolls back its current step",
                        )
                    )
                continue
            for future in done:
                results[futures[future]] = future.result()
    return results
