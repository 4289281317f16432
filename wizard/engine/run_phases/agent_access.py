"""The node agent's discovery credentials (``[agent] discovery = true``), through the API with
kubectl on a master over SSH, as kubeadm's objects are (:mod:`wizard.engine.api_objects`):

- before any node (:data:`PHASE`): a ServiceAccount, a Role that may only read the
  ``default/kubernetes`` Endpoints, its RoleBinding and a service-account-token Secret
  (:func:`wizard.strategies.node_agent.access_objects`), each created only when absent and
  recorded on that master (:data:`RECORD`) before it is created; an object of that name that
  kubeha did not make is never touched (the run stops, naming it). The token and the cluster
  CA it carries are added to every node's plan as root-only files: in memory only on the way,
  never printed (a dry run and a diff say "redacted"). An uninstall lists the same files in
  every node's plan, so they are removed with the rest.
- after the nodes of an uninstall (:data:`GIVE_BACK`): every recorded object deleted, when it
  is still the one kubeha made (same uid), and the record removed. The same after the nodes of
  an apply whose profile turned discovery off, once every node of the profile gave its token
  back in that run (:mod:`wizard.engine.phases.retire` drops the files the plan no longer has);
  a node left alone (``--only``) or not finished may still use it, so it stays, and the run
  says so.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

from wizard.engine.api_objects import ADMIN_KUBECONFIG, Kubectl
from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, PhaseName, RunStopped
from wizard.engine.remote import RemoteNode, q
from wizard.engine.run import Run
from wizard.plan import RenderPlan
from wizard.strategies import node_agent

RECORD = "/var/lib/kubeha/agent-objects.json"
# kubeadm's admin kubeconfig, else the root user's own (a cluster not made by kubeadm).
KUBECONFIGS = (ADMIN_KUBECONFIG, "/root/.kube/config")
TOKEN_WAIT_S = 60.0
STEP = "the node agent's credentials"


def _emit(run: Run, status: Status, message: str, lines: tuple[str, ...] = ()) -> None:
    run.emit(Event(None, PhaseName.OBJECTS, status, message, lines))


def with_secrets(plan: RenderPlan, token: bytes, ca: bytes) -> RenderPlan:
    """Every node plan that runs the agent, with its token and CA files after the pyz (whose
    check stays first: the node's python preflight)."""
    from dataclasses import replace

    secrets = (
        node_agent.secret_file(node_agent.TOKEN_PATH, token),
        node_agent.secret_file(node_agent.CA_PATH, ca),
    )
    nodes = []
    for node in plan.nodes:
        paths = [f.path for f in node.files]
        if node_agent.PYZ_PATH not in paths:
            nodes.append(node)
            continue
        at = paths.index(node_agent.PYZ_PATH) + 1
        files = (*node.files[:at], *secrets, *node.files[at:])
        nodes.append(replace(node, files=files))
    return replace(plan, nodes=tuple(nodes))


@contextlib.contextmanager
def _kubectl(run: Run, recorded: bool) -> Iterator[tuple[Kubectl | None, list[str]]]:
    """kubectl on the first master that has it and a kubeconfig (``recorded``: and the
    record of the agent's objects), on the run's leased connection to it."""

    def pick(name: str, node: RemoteNode) -> tuple[Kubectl | None, str]:
        for kubeconfig in KUBECONFIGS:
            kubectl = Kubectl(node, name, kubeconfig)
            if kubectl.usable() is None:
                if not recorded or node.read_text(RECORD) is not None:
                    return kubectl, ""
                return None, f"no record of the agent's objects ({RECORD})"
        return None, f"no kubectl with {' or '.join(KUBECONFIGS)}"

    with run.open_for.first_master((m.name for m in run.profile.masters), pick) as found:
        yield found


def _kind(obj: dict[str, object]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return str(obj["kind"]).lower(), str(meta["namespace"]), str(meta["name"])


def _title(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}"


def _get(kubectl: Kubectl, kind: str, namespace: str, name: str) -> dict[str, object] | None:
    result = kubectl.node.run(
        kubectl._argv("get", kind, name, "-n", namespace, "-o", "json"), timeout=40
    )
    if not result.ok:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise RunStopped(
            f"kubectl get {_title(kind, namespace, name)} failed: {result.stderr.strip()[:300]}",
            step=STEP,
        )
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def _uid(obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("uid", "")) if isinstance(meta, dict) else ""


def _ours(obj: dict[str, object]) -> bool:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return isinstance(labels, dict) and all(
        labels.get(k) == v for k, v in node_agent.MANAGED.items()
    )


def _read_record(node: RemoteNode) -> list[dict[str, str]]:
    text = node.read_text(RECORD)
    if not text:
        return []
    try:
        data = json.loads(text)
        return [{k: str(v) for k, v in item.items()} for item in data]
    except (ValueError, AttributeError, TypeError):
        raise RunStopped(
            f"{RECORD}: not kubeha's record of the agent's objects", step=STEP
        ) from None


def _make(run: Run, kubectl: Kubectl) -> tuple[list[str], bytes, bytes]:
    """Every object present (created when absent, recorded first); the token and CA."""
    node = kubectl.node
    record = _read_record(node)
    lines: list[str] = []
    for wanted in node_agent.access_objects():
        kind, namespace, name = _kind(wanted)
        title = _title(kind, namespace, name)
        found = _get(kubectl, kind, namespace, name)
        if found is not None:
            if not _ours(found):
                raise RunStopped(
                    f"{title} exists and kubeha did not make it: left alone; remove or rename it",
                    step=STEP,
                )
            lines.append(f"{title}: present")
            continue
        entry = {"kind": kind, "namespace": namespace, "name": name, "uid": ""}
        record.append(entry)
        node.write_private_file(RECORD, json.dumps(record))
        argv = " ".join(q(a) for a in kubectl._argv("create", "-o", "json", "-f", "-"))
        made = node.run(["sh", "-c", argv], timeout=40, stdin=json.dumps(wanted))
        if not made.ok:
            raise RunStopped(
                f"kubectl create {title} failed: {made.stderr.strip()[:300]}", step=STEP
            )
        entry["uid"] = _uid(json.loads(made.stdout))
        node.write_private_file(RECORD, json.dumps(record))
        lines.append(f"{title}: created")
    deadline = time.monotonic() + TOKEN_WAIT_S
    while True:
        token = kubectl.secret_value(node_agent.ACCESS_NAMESPACE, node_agent.TOKEN_SECRET, "token")
        ca = kubectl.secret_value(node_agent.ACCESS_NAMESPACE, node_agent.TOKEN_SECRET, "ca.crt")
        if token and ca:
            return lines, token.encode(), ca.encode()
        if time.monotonic() > deadline or run.cancel.wait(1.0):
            raise RunStopped(
                f"secret {node_agent.ACCESS_NAMESPACE}/{node_agent.TOKEN_SECRET}: no token after "
                f"{TOKEN_WAIT_S:.0f} s (does kube-controller-manager run its token controller, "
                "with --service-account-private-key-file?)",
                step=STEP,
            )


def access(run: Run) -> Outcome:
    if not node_agent.discovery_on(run.profile) or not any(
        f.path == node_agent.PYZ_PATH for n in run.plan.nodes for f in n.files
    ):
        return Status.UNCHANGED, "", ()
    if run.uninstall or run.options.dry_run:
        # the files listed (redacted), so that a dry run shows them and uninstall removes them
        run.plan = with_secrets(run.plan, b"", b"")
        if run.options.dry_run and not run.uninstall:
            titles = [_title(*_kind(o)) for o in node_agent.access_objects()]
            for obj in node_agent.access_objects():
                run.objects.append((_title(*_kind(obj)), json.dumps(obj, indent=2)))
            _emit(
                run,
                Status.INFO,
                "would make the node agent's read-only credentials unless present",
                (*titles, f"token -> {node_agent.TOKEN_PATH} on every node (redacted)"),
            )
        return Status.OK, "", ()
    _emit(run, Status.STARTED, "the node agent's credentials through the API")
    with _kubectl(run, recorded=False) as (kubectl, problems):
        if kubectl is None:
            message = "no master to make the node agent's credentials with: " + "; ".join(problems)
            _emit(run, Status.FAILED, message)
            raise RunStopped(message, tuple(problems), step=STEP)
        try:
            lines, token, ca = _make(run, kubectl)
        except RunStopped as stopped:
            _emit(run, Status.FAILED, str(stopped))
            raise
    run.plan = with_secrets(run.plan, token, ca)
    _emit(
        run, Status.OK, f"the node agent's credentials, through {kubectl.node_name}", tuple(lines)
    )
    return Status.OK, "", ()


def give_back(run: Run) -> Outcome:
    """An uninstall, after the nodes: the recorded objects deleted (each only when it is still
    the one kubeha made). An apply whose profile turned discovery off: the same once no node
    can still use them (:func:`no_node_uses_them`)."""
    if run.options.dry_run:
        return Status.UNCHANGED, "", ()
    if not run.uninstall:
        if node_agent.discovery_on(run.profile) or not any(
            node_agent.TOKEN_PATH in result.changed_files for result in run.results.values()
        ):
            return Status.UNCHANGED, "", ()  # no node gave its token back in this run
        why_not = no_node_uses_them(run)
        if why_not:
            message = f"the node agent's credentials stay in the cluster: {why_not}"
            _emit(run, Status.INFO, message)
            return Status.UNCHANGED, "", ()
    with _kubectl(run, recorded=True) as (kubectl, problems):
        if kubectl is None:
            return Status.UNCHANGED, "", ()
        lines: list[str] = []
        record = _read_record(kubectl.node)
        left = list(record)
        for entry in reversed(record):
            title = _title(entry["kind"], entry["namespace"], entry["name"])
            found = _get(kubectl, entry["kind"], entry["namespace"], entry["name"])
            if (
                found is not None
                and (_uid(found) == entry["uid"] or not entry["uid"])
                and _ours(found)
            ):
                gone = kubectl.node.run(
                    kubectl._argv(
                        "delete",
                        entry["kind"],
                        entry["name"],
                        "-n",
                        entry["namespace"],
                        "--ignore-not-found",
                    ),
                    timeout=60,
                )
                if not gone.ok:
                    problems.append(f"{title}: {gone.stderr.strip()[:200]}")
                    continue
                lines.append(f"{title}: deleted")
            elif found is not None:
                lines.append(f"{title}: not the one kubeha made, left alone")
            left.remove(entry)
            kubectl.node.write_private_file(RECORD, json.dumps(left))
        if not left:
            kubectl.node.run(["rm", "-f", RECORD])
            kubectl.node.remove_made_folders()  # its node's removal found the record there
    status = Status.FAILED if problems else Status.CHANGED
    _emit(run, status, "the node agent's credentials given back", (*lines, *problems))
    return status, "", ()


def no_node_uses_them(run: Run) -> str:
    """Why an apply with discovery off must leave the credentials (a node may still run its
    agent with the token), or "" once every node of the profile ran and is done with them."""
    everyone = {node.node for node in run.plan.nodes}
    skipped = sorted(everyone - set(run.selected))
    if skipped:
        return f"this run left {', '.join(skipped)} alone (the next full apply or uninstall gives them back)"
    failed = sorted(name for name, result in run.results.items() if not result.ok)
    if failed:
        return f"{', '.join(failed)} did not finish (the next apply or uninstall gives them back)"
    return ""


PHASE: Phase[Run] = Phase(PhaseName.OBJECTS, 0.0, run=access, dry_run=access)
GIVE_BACK: Phase[Run] = Phase(PhaseName.OBJECTS, 0.0, run=give_back, dry_run=give_back)
