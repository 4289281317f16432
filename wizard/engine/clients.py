"""What the kubeconfig phases share (the apply's ``clients``, :mod:`wizard.engine.phases.clients`;
the uninstall's, :mod:`wizard.engine.phases.point_back`): the run's :class:`ClientPlan`, the
record of the clusters kubeha repointed, a static pod's restart, and the client's check. Each
listed kubeconfig on the node is repointed to the load balancer once the node's load balancer is
verified (``[clients] repoint = true``), and pointed back before the load balancer goes.

Per kubeconfig present on the node: only the ``server:`` lines that name a master change
(:func:`wizard.retrofit.kubeconfig.repoint`); the new file is staged beside the old one and
renamed into place with the same backups as every file kubeha replaces (``.kubeha-prev`` for
this run's rollback, ``.kubeha-orig`` for uninstall), and the names of the cluster entries it
changed are recorded (``RECORD``): uninstall gives those clusters, found by name, the server
they have in ``.kubeha-orig``, and keeps the file, its backup and the load balancer when a
server on the load balancer cannot be given back. The unit that reads it is restarted when it
was running (a kubeadm static pod's manifest is moved out of kubelet's folder and back, and
kubelet starts it again), then the client is checked to talk through the load balancer: ``kubectl get --raw
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
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from wizard.engine.phase import StepFailed
from wizard.engine.remote import REGULAR, RemoteNode, q
from wizard.profile import KUBEADM_LOCAL_KUBECONFIGS, ClientKubeconfig, Profile
from wizard.retrofit import kubeconfig
from wizard.retrofit.client_diff import old_endpoints
from wizard.retrofit.kubeconfig import KubeconfigNow

KEPT_LOCAL = "[clients] repoint_local = true repoints it"
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
    # Each master's own apiserver endpoints (its address and name, loopback), by node name:
    # kubeadm's local kubeconfigs naming one of them stay ([clients] repoint_local off).
    local: tuple[tuple[str, frozenset[tuple[str, int]]], ...] = ()

    def own_endpoints(self, name: str) -> frozenset[tuple[str, int]]:
        return next((found for node, found in self.local if node == name), frozenset())


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
        () if profile.clients.repoint_local else local_endpoints(profile),
    )


def local_endpoints(profile: Profile) -> tuple[tuple[str, frozenset[tuple[str, int]]], ...]:
    """Each master's own apiserver as its own kubeconfigs may name it: its address, its
    name and loopback, at its apiserver port."""
    found = []
    for master in profile.masters:
        port = master.apiserver_port
        hosts = (master.address.lower(), master.name.lower(), "127.0.0.1", "localhost", "::1")
        found.append((master.name, frozenset((host, port) for host in hosts)))
    return tuple(found)


def kept_local(plan: ClientPlan, name: str, target: ClientKubeconfig, text: str) -> str | None:
    """The server that keeps kubeadm's local kubeconfig ``target`` on this master's own
    apiserver (None: repointed as any other)."""
    if target.path not in KUBEADM_LOCAL_KUBECONFIGS:
        return None
    own = plan.own_endpoints(name)
    return next((s for s in kubeconfig.servers(text) if kubeconfig.endpoint(s) in own), None)


def _mode_owner(node: RemoteNode, path: str) -> tuple[int, str, str]:
    result = node.run(["stat", "-c", "%a %U %G", path], timeout=20)
    parts = result.stdout.split()
    if result.ok and len(parts) == 3:
        try:
            return int(parts[0], 8), parts[1], parts[2]
        except ValueError:
            pass
    return 0o600, "root", "root"


def replace_file(node: RemoteNode, path: str, text: str) -> None:
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


def units_of(changes: Iterable[ClientChange]) -> list[str]:
    return list(dict.fromkeys(c.target.unit for c in changes if c.target.unit))


def pods_of(targets: Iterable[ClientKubeconfig]) -> list[str]:
    return list(dict.fromkeys(t.pod for t in targets if t.pod))


MANIFESTS = "/etc/kubernetes/manifests"  # kubelet's static pod folder, as kubeadm sets it


def manifest_restart_script(pod: str, seconds: float, manifests: str = MANIFESTS) -> str:
    """A static pod restarted through its manifest: moved out of kubelet's folder (a rename on
    the same file system: the file keeps every byte, its inode and times) until kubelet has
    stopped the pod's process, then moved back and waited on until kubelet starts a new one. A
    trap moves it back on every way out, and a manifest a stopped run left outside is moved
    back first. Prints one word: restarted, no-manifest, no-pgrep, not-running, not-stopped,
    not-started."""
    manifest = f"{manifests.rstrip('/')}/{pod}.yaml"
    away = f"{posixpath.dirname(manifests.rstrip('/'))}/.kubeha-{pod}.yaml.away"
    tries = max(1, int(seconds * 2))
    pattern = q(f"^([^ ]*/)?{pod}( |$)")
    return f"""m={q(manifest)}; away={q(away)}; n={tries}
pids() {{ pgrep -f {pattern} 2>/dev/null | sort -n | tr '\n' ' '; }}
back() {{ if [ -e "$away" ] && [ ! -e "$m" ]; then mv "$away" "$m"; fi; }}
trap back EXIT
trap 'back; exit 1' HUP INT TERM
back
[ -f "$m" ] || {{ echo no-manifest; exit 0; }}
command -v pgrep >/dev/null 2>&1 || {{ echo no-pgrep; exit 0; }}
before=$(pids)
[ -n "$before" ] || {{ echo not-running; exit 0; }}
mv "$m" "$away" || {{ echo cannot-move; exit 1; }}
i=0
while :; do
  alive=; for p in $before; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  i=$((i+1)); [ "$i" -ge "$n" ] && {{ back; echo not-stopped; exit 1; }}
  sleep 0.5
done
back
i=0
while :; do
  for p in $(pids); do case " $before " in *" $p "*) ;; *) echo restarted; exit 0;; esac; done
  i=$((i+1)); [ "$i" -ge "$n" ] && {{ echo not-started; exit 1; }}
  sleep 0.5
done
"""


def restart_pod(node: RemoteNode, pod: str, seconds: float) -> tuple[bool, str]:
    """A kubeadm static pod restarted through its manifest (:func:`manifest_restart_script`):
    kubelet stops it and starts it again, reading the kubeconfig again. Where the node has no
    such manifest (or no pgrep to see the pod's process with), its running container is stopped
    through crictl when the node has crictl. (ok, what happened); ok and nothing done when the
    pod does not run here."""
    result = node.sh(manifest_restart_script(pod, seconds), timeout=2 * seconds + 60)
    word = (result.stdout.split() or ["?"])[-1]
    if word == "restarted":
        return True, f"restarted static pod {pod} (its manifest moved out and back)"
    if word == "not-running":
        return True, f"{pod}: its manifest is here but no {pod} process runs: nothing to restart"
    if word == "not-stopped":
        return False, (
            f"{pod}: kubelet did not stop it within {seconds:g} s of its manifest leaving "
            f"{MANIFESTS} (is kubelet running?); the manifest is back in place"
        )
    if word == "not-started":
        return False, f"{pod}: kubelet did not start it again within {seconds:g} s"
    if word not in ("no-manifest", "no-pgrep"):
        return False, f"{pod}: restart through its manifest failed: {result.stderr.strip()[:200]}"
    return _crictl_restart(node, pod, seconds)


def _crictl_restart(node: RemoteNode, pod: str, seconds: float) -> tuple[bool, str]:
    """The pod's running container stopped through crictl (only where the node has crictl);
    kubelet starts a new one from the same manifest."""
    name = q(f"^{pod}$")
    listed = node.sh(
        f"command -v crictl >/dev/null 2>&1 || {{ echo no-crictl; exit 0; }}; "
        f"crictl ps -q --state running --name {name}",
        timeout=30,
    )
    if "no-crictl" in listed.stdout:
        return (
            True,
            f"{pod}: no manifest and no crictl on the node: it reads the new server at its next start",
        )
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


# --- repoint --------------------------------------------------------------------------------


def moves(
    node: RemoteNode, plan: ClientPlan, name: str = ""
) -> Iterator[tuple[ClientKubeconfig, kubeconfig.Repointed]]:
    """Each listed kubeconfig present on the node ``name``, and what pointing it at the LB makes
    of it (kubeadm's local ones on their master's own apiserver: nothing, saying why)."""
    for target in plan.kubeconfigs:
        text = node.read_text(target.path)
        if text is None:
            continue
        local = kept_local(plan, name, target, text)
        if local is not None:
            why = f"{local}: this master's own apiserver, kept local ({KEPT_LOCAL})"
            yield target, kubeconfig.Repointed(text, (), (why,), plan.server_url)
            continue
        yield target, kubeconfig.repoint(text, plan.server_url, set(plan.old_endpoints))


def check_client(
    node: RemoteNode,
    plan: ClientPlan,
    target: ClientKubeconfig,
    seconds: float,
    cancel: threading.Event,
) -> str:
    """The kubeconfig reaches a ready apiserver through the load balancer, and its unit (when
    it has one) is healthy; retried until ``seconds`` (the run's verify time) are up."""
    checks = [("readyz", _readyz_script(node, plan, target.path))]
    if target.unit:
        url = next((u for prefix, u in HEALTHZ if target.unit.startswith(prefix)), None)
        if url is not None:
            checks.append((f"{target.unit} healthz", _healthz_script(url)))
        else:
            checks.append(
                (f"{target.unit} active", f"systemctl is-active --quiet -- {q(target.unit)}")
            )
    deadline = time.monotonic() + seconds
    for what, script in checks:
        while True:
            result = node.sh(script, timeout=30)
            if result.ok:
                break
            if time.monotonic() >= deadline or cancel.is_set():
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
