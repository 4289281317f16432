"""The run's ``objects``, with ``[clients] repoint = true``: kubeadm's kube-proxy ConfigMap,
cluster-info and kubeadm-config repointed through the API (:mod:`wizard.engine.api_objects`)
once every node verified and repointed its kubeconfigs; a dry run shows each object's diff.
A failure gives back every object this run changed and fails the run (its nodes keep their
verified load balancer). An uninstall gives the objects back first (before any node's clients
are pointed back): one that cannot be stops the uninstall, every node left as it was, the
object named. A cluster whose masters have no kubeadm admin kubeconfig has none of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from wizard.engine import api_objects
from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.remote import RemoteNode
from wizard.engine.run import Run
from wizard.retrofit.api_objects import Unparsable
from wizard.retrofit.client_diff import old_endpoints

STEP = "giving back kubeadm's objects"


@contextlib.contextmanager
def _open(
    run: Run, recorded: bool = False, counted: list[int] | None = None
) -> Iterator[tuple[api_objects.Kubectl | None, list[str]]]:
    """kubectl on the first master that has kubeadm's admin kubeconfig (None: none has), on the
    run's leased connection to it, and the problems met on the way (a master that cannot be
    reached, one without kubectl). ``recorded`` (an uninstall): the first that holds kubeha's
    record of the objects. ``counted`` gets one entry per reachable master with kubeadm's
    admin kubeconfig."""

    def pick(name: str, node: RemoteNode) -> tuple[api_objects.Kubectl | None, str]:
        kubectl = api_objects.Kubectl(node, name)
        why = kubectl.usable()
        if why != "absent" and counted is not None:
            counted.append(1)
        if why is None and (not recorded or node.read_text(api_objects.RECORD) is not None):
            return kubectl, ""
        return None, "" if why in (None, "absent") else why

    with run.open_for.first_master((m.name for m in run.profile.masters), pick) as found:
        yield found


def _partial(run: Run) -> str:
    """Why this run does not cover every node (``--only``): kubeadm's objects are read by every
    node's kube-proxy and by the next join, so they follow the whole cluster ("" when it does)."""
    names = [n.node for n in run.plan.nodes]
    left = [name for name in names if run.options.only and name not in run.options.only]
    if not left:
        return ""
    return f"this run leaves out {len(left)} of {len(names)} node(s) ({', '.join(left[:5])})"


def _objects_run(run: Run, kubectl: api_objects.Kubectl) -> api_objects.ObjectsRun:
    plan = run.plan
    old = set(old_endpoints(run.profile))
    return api_objects.ObjectsRun(
        kubectl,
        plan.server_url,
        frozenset(old),
        run.options.verify_timeout,
        run.cancel,
        max(300.0, run.options.verify_timeout),
    )


def _emit(run: Run, status: Status, message: str, lines: list[str] | tuple[str, ...]) -> None:
    run.emit(Event(None, PhaseName.OBJECTS, status, message, tuple(lines)))


def objects(run: Run) -> Outcome:
    if not run.profile.clients.repoint or not run.plan.server_url:
        return Status.UNCHANGED, "", ()
    if run.uninstall:
        return _give_back(run)
    if run.options.dry_run:
        return _preview(run)
    not_ok = sorted(name for name, result in run.results.items() if not result.ok)
    partial = _partial(run)
    if not_ok or run.cancel.is_set() or partial:
        why = f"node(s) {', '.join(not_ok)} not ok" if not_ok else "the run was cancelled"
        why = partial or why
        _emit(run, Status.SKIPPED, f"kubeadm's objects left as they are: {why}", ())
        return Status.SKIPPED, "", ()
    _emit(run, Status.STARTED, "kubeadm's objects through the API", ())
    with _open(run) as (kubectl, problems):
        if kubectl is None:
            return _none_found(run, problems)
        work = _objects_run(run, kubectl)
        work.record, bad = api_objects.read_record(kubectl.node)
        if bad:
            return _failed(run, bad, [])
        try:
            work.apply()
        except (api_objects.ApiError, Unparsable, RuntimeError) as exc:
            back = work.give_back(work.done)
            said = "given back" if not back else f"NOT all given back: {'; '.join(back)}"
            return _failed(run, f"{exc}; this run's object changes {said}", work.lines)
        changed = len(work.done)
        message = f"{changed} object change(s) through {kubectl.node_name}'s kubectl"
        status = Status.CHANGED if changed else Status.UNCHANGED
        _emit(run, status, message, work.lines)
        return status, "", ()


def _none_found(run: Run, problems: list[str]) -> Outcome:
    if problems:
        return _failed(run, "cannot read kubeadm's objects: " + "; ".join(problems), [])
    what = f"no master has {api_objects.ADMIN_KUBECONFIG}: no kubeadm objects to repoint"
    _emit(run, Status.UNCHANGED, what, ())
    return Status.UNCHANGED, "", ()


def _failed(run: Run, message: str, lines: list[str]) -> Outcome:
    run.cluster_problems.append(f"objects: {message}")
    _emit(run, Status.FAILED, message, lines)
    return Status.FAILED, "", ()


def _preview(run: Run) -> Outcome:
    """A dry run: each object's diff; nothing changes."""
    with _open(run) as (kubectl, problems):
        if kubectl is None:
            what = "; ".join(problems) or f"no master has {api_objects.ADMIN_KUBECONFIG}"
            _emit(run, Status.INFO, f"kubeadm's objects not read: {what}", ())
            return Status.INFO, "", ()
        work = _objects_run(run, kubectl)
        try:
            edits = work.edits()
        except (api_objects.ApiError, Unparsable, RuntimeError) as exc:
            _emit(run, Status.FAILED, str(exc), work.lines)
            run.cluster_problems.append(f"objects: {exc}")
            return Status.FAILED, "", ()
        lines = list(work.lines)
        for made, _ in edits:
            title = f"{made.ref.title} {made.ref.field}"
            run.objects.append((title, made.diff() or f"unchanged: {made.line}"))
            if made.changed:
                lines.extend(made.diff().splitlines())
                if made.ref.name == "kube-proxy":
                    lines.append("would restart DaemonSet kube-system/kube-proxy (rolling)")
        would = sum(1 for made, _ in edits if made.changed)
        _emit(run, Status.INFO, f"would change {would} kubeadm object(s)", lines)
        return Status.INFO, "", ()


def _give_back(run: Run) -> Outcome:
    counted: list[int] = []
    with _open(run, recorded=True, counted=counted) as (kubectl, problems):
        if kubectl is None:
            unreachable = all(": cannot connect: " in p for p in problems)
            if (
                problems
                and unreachable
                and not counted
                and len(problems) < len(run.profile.masters)
            ):
                # Not a kubeadm cluster (no master that answers has kubeadm's admin kubeconfig):
                # a master that is down (the reason for many an uninstall) holds no record either.
                message = f"no kubeadm objects ({'; '.join(problems)})"
                _emit(run, Status.INFO, message, ())
                return Status.UNCHANGED, "", ()
            if problems:
                message = "cannot read kubeadm's objects: " + "; ".join(problems)
                _emit(run, Status.FAILED, message, ())
                raise RunStopped(message, tuple(problems), step=STEP)
            return Status.UNCHANGED, "", ()
        changes, bad = api_objects.read_record(kubectl.node)
        if bad:
            _emit(run, Status.FAILED, bad, ())
            raise RunStopped(bad, (), step=STEP)
        if not changes:
            return Status.UNCHANGED, "", ()
        partial = _partial(run)
        if partial:
            message = (
                f"kubeadm's objects name the load balancer and {partial}: uninstall every node "
                "in one run, so that no node's kube-proxy is left on a load balancer that is gone"
            )
            _emit(run, Status.FAILED, message, ())
            raise RunStopped(message, (), step=STEP)
        _emit(run, Status.STARTED, "giving back kubeadm's objects", ())
        work = _objects_run(run, kubectl)
        work.record = list(changes)
        stuck = work.give_back(changes, strict=True)
        if stuck:
            message = "; ".join(stuck) + "; the load balancer is left in place"
            _emit(run, Status.FAILED, message, work.lines)
            raise RunStopped(message, tuple(stuck), step=STEP)
        _emit(run, Status.CHANGED, f"{len(changes)} object change(s) given back", work.lines)
        return Status.CHANGED, "", ()


PHASE: Phase[Run] = Phase(PhaseName.OBJECTS, 0.0, run=objects, dry_run=objects)
