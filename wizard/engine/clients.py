"""The ``clients`` phase: each listed kubeconfig on the node repointed to the load balancer, once
the node's load balancer is verified (``[clients] repoint = true``), and its undo; and the
uninstall's first step, which points them back before the load balancer goes.

Per kubeconfig present on the node: only the ``server:`` lines that name a master change
(:func:`wizard.retrofit.kubeconfig.repoint`); the new file is staged beside the old one and
renamed into place with the same backups as every file kubeha replaces (``.kubeha-prev`` for
this run's rollback, ``.kubeha-orig`` for uninstall), and the names of the cluster entries it
changed are recorded (``RECORD``): uninstall gives those clusters, found by name, the server
they have in ``.kubeha-orig``, and keeps the file, its backup and the load balancer when a
server on the load balancer cannot be given back. The unit that reads it is restarted when it
was running (a kubeadm static pod's container is stopped through crictl, and kubelet starts
it again from its manifest), then the client is checked to talk through the load balancer: ``kubectl get --raw
/readyz`` with that kubeconfig (curl with its CA where there is no kubectl), and kubelet's or
kube-proxy's healthz when the unit is one of theirs. A re-apply finds nothing to change.

A server an older kubeha repointed a kubeconfig to (the plan's ``former_server_urls``, e.g.
local-nginx's ``https://127.0.0.1:8443`` before the API host name) counts as the load balancer:
a re-apply moves it to the new server, and uninstall points it back to the original too.

Each kubeconfig goes into the node's journal (:mod:`wizard.engine.node_journal`) before it is
renamed into place, and the journal is cleared once every client checked out: a run that dies
between a kubeconfig's change and its unit's restart leaves it there, and the next run restarts
that unit and checks it even though the file is already what it wants.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.engine import node_journal
from wizard.engine.events import Status
from wizard.engine.file_changes import record_in_journal
from wizard.engine.model import KubeconfigNow
from wizard.engine.phase import Outcome, StepFailed
from wizard.engine.remote import ORIG, PREV, REGULAR, RemoteNode, q
from wizard.plan import RenderedFile
from wizard.profile import ClientKubeconfig, Profile
from wizard.retrofit import kubeconfig
from wizard.retrofit.client_diff import old_endpoints

if TYPE_CHECKING:
    from wizard.engine.node_job import NodeJob
    from wizard.engine.uninstall_job import UninstallJob

CA_COPY = "/run/kubeha/clients-ca.pem"  # an embedded CA, for curl where there is no kubectl
# Which cluster entries (by name) kubeha repointed in each kubeconfig: uninstall points back
# exactly those, matched by name in the file as it is then (:func:`kubeconfig.point_back`).
RECORD = "/var/lib/kubeha/repointed.json"
MAX_RECORD_BYTES = 256 * 1024
# A unit's own health endpoint, checked after its restart: (unit name prefix, URL).
HEALTHZ = (
    ("kubelet.", "http://127.0.0.1:10248/healthz"),
    ("kube-proxy.", "http://127.0.0.1:10256/healthz"),
)


@dataclass(frozen=True)
class ClientPlan:
    """What a node job needs to repoint its clients (the same for every node of a run)."""

    kubeconfigs: tuple[ClientKubeconfig, ...]
    server_url: str
    old_endpoints: frozenset[tuple[str, int]]
    ca_file: str | None = None
    former_servers: tuple[str, ...] = ()  # what an older kubeha repointed clients to
    # curl's credentials where there is no kubectl: the check's client certificate (an
    # apiserver that refuses anonymous requests answers /readyz 401 otherwise).
    curl_auth: str = ""


@dataclass(frozen=True)
class ClientChange:
    """A kubeconfig this run repointed; ``first``: its ``.kubeha-orig`` was made by this run."""

    target: ClientKubeconfig
    first: bool
    line: str


def client_plan(
    profile: Profile, server_url: str, former_servers: tuple[str, ...] = ()
) -> ClientPlan | None:
    """The run's client plan; None when the profile does not repoint clients. The masters'
    endpoints and ``former_servers``' are the ones a kubeconfig is moved from."""
    targets = profile.clients.targets()
    if not targets or not server_url:
        return None
    old = set(old_endpoints(profile))
    former = tuple(url for url in former_servers if url != server_url)
    for url in former:
        found = kubeconfig.endpoint(url)
        if found is not None:
            old.add(found)
    return ClientPlan(
        targets,
        server_url,
        frozenset(old),
        profile.clients.ca_file,
        former,
        profile.health_check.curl_auth,
    )


def has_clients(job: NodeJob | UninstallJob) -> bool:
    return job.clients is not None


def _mode_owner(node: RemoteNode, path: str) -> tuple[int, str, str]:
    result = node.run(["stat", "-c", "%a %U %G", path], timeout=20)
    parts = result.stdout.split()
    if result.ok and len(parts) == 3:
        try:
            return int(parts[0], 8), parts[1], parts[2]
        except ValueError:
            pass
    return 0o600, "root", "root"


def _replace(node: RemoteNode, path: str, text: str) -> None:
    mode, owner, group = _mode_owner(node, path)
    temp = node.stage(path, text.encode(), mode, owner, group)
    node.commit(path, temp)


def read_record(node: RemoteNode) -> dict[str, list[str]]:
    """kubeconfig path -> the names of the cluster entries kubeha repointed in it ({} when
    none is recorded, or the file is not kubeha's record)."""
    text = node.read_text(RECORD)
    if not text or len(text) > MAX_RECORD_BYTES:
        return {}
    try:
        data = json.loads(text)["kubeconfigs"]
        return {str(path): [str(n) for n in names] for path, names in data.items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}


def write_record(node: RemoteNode, record: dict[str, list[str]]) -> None:
    """Atomically and private to root; removed when it records nothing."""
    if record:
        node.write_private_file(RECORD, json.dumps({"kubeconfigs": record}, sort_keys=True))
    else:
        node.run(["rm", "-f", RECORD])


def _units(changes: list[ClientChange]) -> list[str]:
    return list(dict.fromkeys(c.target.unit for c in changes if c.target.unit))


def _pods(targets) -> list[str]:
    return list(dict.fromkeys(t.pod for t in targets if t.pod))


def restart_pod(node: RemoteNode, pod: str, seconds: float) -> tuple[bool, str]:
    """A kubeadm static pod's running container stopped through crictl; kubelet starts a new
    one from the same manifest, which reads the kubeconfig again. (ok, what happened); ok and
    nothing done when the node has no crictl or no such container running."""
    name = q(f"^{pod}$")
    listed = node.sh(
        f"command -v crictl >/dev/null 2>&1 || {{ echo no-crictl; exit 0; }}; "
        f"crictl ps -q --state running --name {name}",
        timeout=30,
    )
    if "no-crictl" in listed.stdout:
        return True, f"{pod}: no crictl on the node: it reads the new server at its next start"
    before = set(listed.stdout.split())
    if not listed.ok or not before:
        return True, f"{pod}: no running container on this node"
    stop = node.sh(f"crictl stop {' '.join(q(c) for c in sorted(before))}", timeout=60)
    if not stop.ok:
        return False, f"{pod}: crictl stop failed: {stop.stderr.strip()[:200]}"
    deadline = time.monotonic() + seconds
    while True:
        now = node.sh(f"crictl ps -q --state running --name {name}", timeout=30)
        if set(now.stdout.split()) - before:
            return True, f"restarted static pod {pod}"
        if time.monotonic() >= deadline:
            return False, f"{pod}: kubelet did not start a new container within {seconds:g} s"
        time.sleep(0.5)


# --- facts ---------------------------------------------------------------------------------


def not_regular(node: RemoteNode, plan: ClientPlan) -> list[str]:
    """``PATH is a folder`` for each listed kubeconfig that is there but is not a regular file
    (a folder, a FIFO, a device, a link to nothing): kubeha would read nothing from it, or
    replace something that is not a kubeconfig."""
    found = []
    for target in plan.kubeconfigs:
        kind = node.file_kind(target.path)
        if kind is not None and kind != REGULAR:
            found.append(f"{target.path} is {kind}")
    return found


def kubeconfigs_now(node: RemoteNode, plan: ClientPlan) -> tuple[KubeconfigNow, ...]:
    """Each listed kubeconfig: on the node or not, and the ``server:`` it names now."""
    found = []
    for target in plan.kubeconfigs:
        text = node.read_text(target.path)
        servers = kubeconfig.servers(text) if text is not None else ()
        found.append(KubeconfigNow(target.path, target.unit, text is not None, servers))
    return tuple(found)


# --- apply ---------------------------------------------------------------------------------


def _moves(
    node: RemoteNode, plan: ClientPlan
) -> Iterator[tuple[ClientKubeconfig, kubeconfig.Repointed]]:
    """Each listed kubeconfig present on the node, and what pointing it at the LB makes of it."""
    for target in plan.kubeconfigs:
        text = node.read_text(target.path)
        if text is not None:
            yield target, kubeconfig.repoint(text, plan.server_url, set(plan.old_endpoints))


def repoint_clients(job: NodeJob) -> Outcome:
    """Each listed kubeconfig on the node pointed at the load balancer, its unit restarted,
    and checked to work through it."""
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    lines: list[str] = []
    pending = {e.path for e in job.inherited}  # repointed by a run that stopped half-way
    for target, moved in _moves(node, plan):
        line = f"{target.path}: {moved.diff_line}"
        lines.append(line)
        if not moved.changed:
            if target.path in pending:  # its unit may still run on the old server: finish it
                job.client_changes.append(ClientChange(target, False, line))
                lines.append(f"{target.path}: repointed by a run that stopped: finishing it")
            continue
        first = node.read_text(target.path + ORIG) is None
        # In the node's journal first: a run that dies from here on is finished by the next.
        record_in_journal(
            job,
            RenderedFile(target.path, "", "kubeconfig", service=target.unit or None, restart=True),
        )
        # The clusters it repoints, by name, before the rename: uninstall points back those.
        record = read_record(node)
        names = list(dict.fromkeys([*record.get(target.path, ()), *moved.clusters]))
        if names != record.get(target.path):
            write_record(node, {**record, target.path: names})
        _replace(node, target.path, moved.text)
        job.client_changes.append(ClientChange(target, first, line))
        job.actions.append(line)
    if not lines:
        return Status.UNCHANGED, "none of the listed kubeconfigs is on this node", ()
    if not job.client_changes:
        return Status.UNCHANGED, "every kubeconfig already goes through the load balancer", ()
    for unit in _units(job.client_changes):
        if node.unit_state(unit)[1]:  # running: restart it on the new server
            result = node.systemctl("restart", unit)
            if not result.ok:
                raise StepFailed(f"systemctl restart {unit} failed", result.output_lines())
            job.restarted.append(unit)
            job.actions.append(f"systemctl restart {unit}")
            lines.append(f"restarted {unit}")
    for pod in _pods(c.target for c in job.client_changes):
        ok, what = restart_pod(node, pod, job.options.verify_timeout)
        if not ok:
            raise StepFailed(what)
        lines.append(what)
        if what.startswith("restarted"):
            job.restarted.append(f"pod/{pod}")
            job.actions.append(what)
    for change in job.client_changes:
        lines.append(check_client(job, change.target))
    if job.journal is not None or pending:
        node_journal.clear(node)
    return Status.CHANGED, f"{len(job.client_changes)} kubeconfig(s) repointed", tuple(lines)


def check_client(job: NodeJob, target: ClientKubeconfig) -> str:
    """The kubeconfig reaches a ready apiserver through the load balancer, and its unit (when
    it has one) is healthy; retried until the run's verify time is up."""
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    checks = [("readyz", _readyz_script(node, plan, target.path))]
    if target.unit:
        url = next((u for prefix, u in HEALTHZ if target.unit.startswith(prefix)), None)
        if url is not None:
            checks.append((f"{target.unit} healthz", _healthz_script(url)))
        else:
            checks.append(
                (f"{target.unit} active", f"systemctl is-active --quiet -- {q(target.unit)}")
            )
    deadline = time.monotonic() + job.options.verify_timeout
    for what, script in checks:
        while True:
            result = node.sh(script, timeout=30)
            if result.ok:
                break
            if time.monotonic() >= deadline or job.cancel.is_set():
                raise StepFailed(
                    f"{target.path}: {what} failed through the load balancer {plan.server_url}",
                    result.output_lines(),
                )
            time.sleep(0.5)
    return f"{target.path}: {', '.join(w for w, _ in checks)} ok through {plan.server_url}"


def _readyz_script(node: RemoteNode, plan: ClientPlan, path: str) -> str:
    """kubectl with the kubeconfig; else curl with the cluster CA (the profile's, the one the
    kubeconfig names, or its embedded one copied to ``CA_COPY``)."""
    kubectl = (
        f"out=$(kubectl --kubeconfig {q(path)} --request-timeout=5s get --raw /readyz) "
        '&& [ "$out" = ok ]'
    )
    ca = plan.ca_file
    if ca is None:
        text = node.read_text(path) or ""

        def ours(server: str) -> bool:  # the cluster kubeha repointed: it names the LB now
            return server == plan.server_url

        named = kubeconfig.ca_file(text, ours)
        embedded = kubeconfig.ca_data(text, ours)
        if named:
            ca = posixpath.join(posixpath.dirname(path), named)
        elif embedded:
            node.write_small_file(CA_COPY, embedded.decode())
            ca = CA_COPY
    curl = (
        f"curl -fsS --max-time 5 --cacert {q(ca)}"
        f"{' ' + plan.curl_auth if plan.curl_auth else ''} {q(plan.server_url + '/readyz')}"
        if ca
        else "echo 'no kubectl and no CA to check with' >&2; false"
    )
    return f"if command -v kubectl >/dev/null 2>&1; then {kubectl}; else {curl}; fi"


def _healthz_script(url: str) -> str:
    return f"curl -fsS --max-time 3 -o /dev/null {q(url)}"


def would_repoint(job: NodeJob) -> Outcome:
    """A dry run: the one-line diff of each kubeconfig that would change."""
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    lines: list[str] = []
    units: list[str] = []
    for target, moved in _moves(node, plan):
        lines.append(f"{target.path}: {moved.diff_line}")
        if moved.changed:
            job.actions.append(f"would repoint {target.path}: {moved.diff_line}")
            if target.unit and target.unit not in units:
                units.append(target.unit)
            if target.pod and f"static pod {target.pod}" not in units:
                units.append(f"static pod {target.pod}")
    for unit in units:
        job.actions.append(f"would restart {unit}")
    return Status.INFO, f"{len(lines)} kubeconfig(s) on the node", tuple(lines)


def put_clients_back(job: NodeJob) -> list[str]:
    """The undo: each kubeconfig this run repointed back as it was, its unit restarted."""
    node = job.node
    assert node is not None
    problems: list[str] = []
    for change in reversed(job.client_changes):
        try:
            node.restore_previous(change.target.path)
            if change.first:
                node.run(["rm", "-f", change.target.path + ORIG])
                record = read_record(node)
                if record.pop(change.target.path, None) is not None:
                    write_record(node, record)
        except RuntimeError as exc:
            problems.append(str(exc))
    for unit in _units(job.client_changes):
        if unit in job.restarted and not node.systemctl("restart", unit).ok:
            problems.append(f"{unit} did not restart on its previous kubeconfig")
    for pod in _pods(c.target for c in job.client_changes):
        if f"pod/{pod}" in job.restarted:
            ok, what = restart_pod(node, pod, job.options.verify_timeout)
            if not ok:
                problems.append(what)
    return problems


# --- uninstall -----------------------------------------------------------------------------


def point_clients_back(job: UninstallJob) -> Outcome:
    """Before the load balancer goes: each kubeconfig kubeha repointed gets its original
    server back (from its ``.kubeha-orig``; any other change since is kept), unit restarted."""
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    lines: list[str] = []
    units: list[str] = []
    pods: list[str] = []
    record = read_record(node)
    recorded = dict(record)
    for target in plan.kubeconfigs:
        original = node.read_text(target.path + ORIG)
        if original is None:  # never repointed, or already pointed back
            record.pop(target.path, None)
            continue
        current = node.read_text(target.path)
        if current is None:
            job.problems.append(f"{target.path} is gone: its original is kept as {ORIG}")
            continue
        back = kubeconfig.point_back(
            current,
            original,
            plan.server_url,
            plan.former_servers,
            record.get(target.path),  # None: repointed by a kubeha that kept no record
            plan.old_endpoints,
        )
        if back.stuck:  # a client would be left on the LB: keep the LB, the backup, the file
            job.problems.append(
                f"{target.path}: cannot be pointed back ({'; '.join(back.stuck)}): left as it "
                f"is, its original kept as {target.path}{ORIG}, and the load balancer left in "
                "place; point that server back by hand (or remove the entry), then run "
                "uninstall again"
            )
            continue
        if back.changed:
            try:
                _replace(node, target.path, back.text)
            except RuntimeError as exc:  # a client left on the LB: keep the LB for it
                job.problems.append(str(exc))
                raise StepFailed(
                    f"{target.path} not pointed back ({exc}): the load balancer is left in place"
                ) from None
            lines.append(f"{target.path}: {back.diff_line}")
            job.changes.append(target.path)
            if target.unit and target.unit not in units:
                units.append(target.unit)
            if target.pod and target.pod not in pods:
                pods.append(target.pod)
        node.run(["rm", "-f", target.path + ORIG, target.path + PREV])
        record.pop(target.path, None)
    if record != recorded:
        write_record(node, record)
    for unit in units:
        if node.unit_state(unit)[1]:
            if node.systemctl("restart", unit).ok:
                lines.append(f"restarted {unit}")
            else:
                job.problems.append(f"{unit} did not restart on its original kubeconfig")
    for pod in pods:
        ok, what = restart_pod(node, pod, job.options.verify_timeout)
        (lines if ok else job.problems).append(what)
    job.lines.extend(lines)
    status = Status.CHANGED if lines else Status.UNCHANGED
    return status, f"{len(job.changes)} kubeconfig(s) pointed back", tuple(lines)
