"""kubeadm's cluster objects repointed through the API (``[clients] repoint``): the kube-proxy
ConfigMap (then the kube-proxy DaemonSet rolled and waited on), cluster-info (then the
bootstrap signer's signatures checked) and kubeadm-config's ``controlPlaneEndpoint``. What each
object becomes is :mod:`wizard.retrofit.api_objects`; this module reads and writes them.

kubeha talks to the API with ``kubectl`` on a master over the run's SSH connection, with
kubeadm's admin kubeconfig there (``ADMIN_KUBECONFIG``): the cluster's credentials never leave
the master, nothing new is installed on the operator's machine, and a bastion or a private API
address works as it does for every other step.

Like a file: each change is recorded on that master (``RECORD``, private, before the change:
the object, the field, its exact prior value, the resourceVersion it was read at) and made by a
JSON patch whose first operation tests that resourceVersion, so an object changed by someone in
between is refused, never overwritten. A failure gives back every change of the run in
reverse; uninstall gives back each recorded field exactly, and refuses, naming the object,
when its field holds something other than what kubeha wrote.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from wizard.engine.remote import RemoteNode, q
from wizard.retrofit import api_objects
from wizard.retrofit.api_objects import ObjectRef

ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"  # kubeadm's, on every master it made
RECORD = "/var/lib/kubeha/api-objects.json"
MAX_RECORD_BYTES = 1024 * 1024
TOKEN_NAMESPACE = "kube-system"


class ApiError(RuntimeError):
    """kubectl failed, or the API answered something kubeha does not read."""


@dataclass(frozen=True)
class ObjectChange:
    """One field kubeha changed: what it was (``before``; None: absent), what kubeha wrote, the
    resourceVersion the object was read at; ``parent_absent``: the map holding the field was
    absent too (the pod template's annotations) and is removed again with it."""

    ref: ObjectRef
    before: str | None
    after: str
    resource_version: str
    parent_absent: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "path": list(self.ref.path),
            "before": self.before,
            "after": self.after,
            "resourceVersion": self.resource_version,
            "parentAbsent": self.parent_absent,
        }

    @classmethod
    def from_json(cls, data: object) -> ObjectChange:
        if not isinstance(data, dict):
            raise ValueError("an entry is not a map")
        path = data["path"]
        if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
            raise ValueError("path is not a list of strings")
        ref = ObjectRef(str(data["kind"]), str(data["namespace"]), str(data["name"]), tuple(path))
        before = data["before"]
        if before is not None and not isinstance(before, str):
            raise ValueError("before is not a string")
        return cls(
            ref,
            before,
            str(data["after"]),
            str(data["resourceVersion"]),
            bool(data.get("parentAbsent", False)),
        )


# --- kubectl on a master ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kubectl:
    """kubectl with kubeadm's admin kubeconfig, on a master over SSH."""

    node: RemoteNode
    node_name: str
    kubeconfig: str = ADMIN_KUBECONFIG

    def usable(self) -> str | None:
        """Why kubectl cannot be used here (None: it can); ``absent`` when the master has no
        kubeadm admin kubeconfig (not a kubeadm master: the script prints nothing)."""
        result = self.node.sh(
            f"if test -r {q(self.kubeconfig)}; then if command -v kubectl >/dev/null 2>&1; "
            "then echo ok; else echo no-kubectl; fi; fi",
            timeout=30,
        )
        word = result.stdout.strip()
        if not result.ok:
            return f"cannot check for kubectl: {result.stderr.strip()[:200]}"
        if word == "ok":
            return None
        if word == "no-kubectl":
            return f"no kubectl on the master to read the cluster's objects with {self.kubeconfig}"
        return "absent"

    def get(self, ref: ObjectRef) -> dict[str, object] | None:
        """The object as JSON; None when the API has none of that name."""
        result = self.node.run(
            self._argv("get", ref.resource, ref.name, "-n", ref.namespace, "-o", "json"),
            timeout=40,
        )
        if not result.ok:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise ApiError(f"kubectl get {ref.title} failed: {result.stderr.strip()[:300]}")
        return _decoded(result.stdout, ref)

    def patch(self, ref: ObjectRef, ops: list[dict[str, object]]) -> dict[str, object]:
        """A JSON patch (its first op tests the resourceVersion): the object it made."""
        argv = self._argv(
            "patch", ref.resource, ref.name, "-n", ref.namespace, "--type=json", "-o", "json"
        )
        script = " ".join(q(a) for a in argv) + ' -p "$(cat)"'
        result = self.node.run(["sh", "-c", script], timeout=40, stdin=json.dumps(ops))
        if not result.ok:
            raise ApiError(f"kubectl patch {ref.title} failed: {result.stderr.strip()[:300]}")
        return _decoded(result.stdout, ref)

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded (None when the Secret or the key is absent). Kept in
        memory only: never logged, never written."""
        path = "{.data." + key.replace(".", "\\.") + "}"
        result = self.node.run(
            self._argv("get", "secret", name, "-n", namespace, "-o", f"jsonpath={path}"),
            timeout=40,
        )
        if not result.ok:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise ApiError(f"kubectl get secret {namespace}/{name} failed")
        try:
            return base64.b64decode(result.stdout.strip(), validate=True).decode() or None
        except (binascii.Error, UnicodeDecodeError):
            return None

    def pods(self, namespace: str, selector: str) -> list[dict[str, object]]:
        """The pods of ``namespace`` that match the label ``selector``."""
        argv = self._argv("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
        result = self.node.run(argv, timeout=40)
        if not result.ok:
            raise ApiError(f"kubectl get pods -n {namespace} failed: {result.stderr.strip()[:300]}")
        try:
            items = json.loads(result.stdout).get("items")
        except (ValueError, AttributeError) as exc:
            raise ApiError(f"kubectl get pods -n {namespace}: not a pod list") from exc
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def remove_pod(self, namespace: str, name: str) -> None:
        """A pod already being deleted, whose containers have all stopped, removed from the API
        at once (what kubelet does once its GC has run)."""
        argv = self._argv(
            "delete", "pod", name, "-n", namespace, "--grace-period=0", "--force",
            "--ignore-not-found", "--wait=false",
        )  # fmt: skip
        result = self.node.run(argv, timeout=40)
        if not result.ok:
            raise ApiError(f"kubectl delete pod {namespace}/{name} failed")

    def _argv(self, *args: str) -> list[str]:
        return ["kubectl", f"--kubeconfig={self.kubeconfig}", "--request-timeout=20s", *args]


def _decoded(text: str, ref: ObjectRef) -> dict[str, object]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(f"{ref.title}: kubectl answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(f"{ref.title}: kubectl answered JSON that is not an object")
    return data


def resource_version(obj: dict[str, object], ref: ObjectRef) -> str:
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if not isinstance(version, str) or not version:
        raise ApiError(f"{ref.title}: no metadata.resourceVersion in the API's answer")
    return version


# --- patches -------------------------------------------------------------------------------


def pointer(path: tuple[str, ...]) -> str:
    """A JSON pointer (RFC 6901) to ``path``."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _test(version: str) -> dict[str, object]:
    return {"op": "test", "path": "/metadata/resourceVersion", "value": version}


def change_ops(change: ObjectChange) -> list[dict[str, object]]:
    """The patch that makes the change, refused unless the object is still at the
    resourceVersion it was read at."""
    ref = change.ref
    if change.parent_absent:
        value: dict[str, object] = {ref.path[-1]: change.after}
        return [_test(change.resource_version), _op("add", ref.path[:-1], value)]
    verb = "add" if change.before is None else "replace"
    return [_test(change.resource_version), _op(verb, ref.path, change.after)]


def give_back_ops(
    change: ObjectChange, current: dict[str, object], version: str
) -> list[dict[str, object]]:
    """The patch that gives the field back exactly (``current`` holds kubeha's value)."""
    ref = change.ref
    if change.before is not None:
        return [_test(version), _op("replace", ref.path, change.before)]
    parent = current
    for step in ref.path[:-1]:
        child = parent.get(step) if isinstance(parent, dict) else None
        parent = child if isinstance(child, dict) else {}
    if change.parent_absent and set(parent) == {ref.path[-1]}:
        return [_test(version), {"op": "remove", "path": pointer(ref.path[:-1])}]
    return [_test(version), {"op": "remove", "path": pointer(ref.path)}]


def _op(verb: str, path: tuple[str, ...], value: object) -> dict[str, object]:
    return {"op": verb, "path": pointer(path), "value": value}


# --- the record on the master --------------------------------------------------------------


def read_record(node: RemoteNode) -> tuple[list[ObjectChange], str | None]:
    """(the recorded changes, a problem: the record is there but unreadable)."""
    text = node.read_text(RECORD)
    if text is None or not text.strip():
        return [], None
    if len(text) > MAX_RECORD_BYTES:
        return [], f"{RECORD} is larger than {MAX_RECORD_BYTES} bytes: not kubeha's record"
    try:
        entries = json.loads(text)["objects"]
        return [ObjectChange.from_json(e) for e in entries], None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return [], f"{RECORD} is not kubeha's record of the objects it changed ({exc})"


def write_record(node: RemoteNode, changes: list[ObjectChange]) -> None:
    """Atomically and private to root; removed when it records nothing."""
    if changes:
        text = json.dumps({"objects": [c.to_json() for c in changes]}, indent=1)
        node.write_private_file(RECORD, text + "\n")
    else:
        node.run(["rm", "-f", RECORD])


def recorded(changes: list[ObjectChange], change: ObjectChange) -> list[ObjectChange]:
    """``changes`` with ``change``: a field already recorded keeps its first prior value."""
    for index, old in enumerate(changes):
        if old.ref == change.ref:
            kept = replace(change, before=old.before, parent_absent=old.parent_absent)
            return [*changes[:index], kept, *changes[index + 1 :]]
    return [*changes, change]


def without(changes: list[ObjectChange], ref: ObjectRef) -> list[ObjectChange]:
    return [c for c in changes if c.ref != ref]


# --- waits -----------------------------------------------------------------------------------


def rollout_pending(daemonset: dict[str, object]) -> str | None:
    """Why the DaemonSet's rollout is not done (None: every scheduled pod is updated, Ready
    and available, and the controller has seen the latest template)."""
    meta = daemonset.get("metadata")
    status = daemonset.get("status")
    meta = meta if isinstance(meta, dict) else {}
    status = status if isinstance(status, dict) else {}

    def number(where: dict[str, object], key: str) -> int:
        value = where.get(key, 0)
        return value if isinstance(value, int) else 0

    generation = number(meta, "generation")
    if number(status, "observedGeneration") < generation:
        return "the DaemonSet controller has not seen the new template yet"
    desired = number(status, "desiredNumberScheduled")
    for key, what in (
        ("updatedNumberScheduled", "updated"),
        ("numberReady", "Ready"),
        ("numberAvailable", "available"),
    ):
        if number(status, key) < desired:
            return f"{number(status, key)}/{desired} pod(s) {what}"
    if number(status, "numberUnavailable") > 0:
        return f"{number(status, 'numberUnavailable')} pod(s) unavailable"
    return None


def selector_of(daemonset: dict[str, object]) -> str | None:
    """The DaemonSet's ``spec.selector.matchLabels`` as a label selector (None: it has none, or
    it selects by expressions too)."""
    spec = daemonset.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    if not isinstance(selector, dict) or selector.get("matchExpressions"):
        return None
    labels = selector.get("matchLabels")
    if not isinstance(labels, dict) or not labels:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        return None
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def exited_pods(pods: list[dict[str, object]], owner_uid: str) -> list[str]:
    """The names of the pods ``owner_uid`` controls that are being deleted and whose every
    container has stopped. kubelet (1.20) removes such a pod from the API only once the
    runtime holds none of its containers and sandboxes, at a status sync after its GC; the
    DaemonSet controller starts a node's new pod only once the old one is gone, so the rollout
    waits for it on each node (seen on the kubeadm lab: 42 s for one pod).

    Stopped is each container ``terminated``, or ``waiting`` in a pod that has run (its phase
    is past Pending): when a container's death reaches kubelet after its pod was deleted,
    kubelet removes the container at once and then reports it as waiting (it has no status
    left for it) while the pod's sandbox waits for the GC. kubelet never starts a container of
    a pod being deleted. A pod that never ran (Pending) is left to kubelet."""
    names = []
    for pod in pods:
        meta = pod.get("metadata")
        status = pod.get("status")
        if not isinstance(meta, dict) or not isinstance(status, dict):
            continue
        owners = meta.get("ownerReferences")
        ours = isinstance(owners, list) and any(
            isinstance(o, dict) and o.get("uid") == owner_uid and o.get("controller") is True
            for o in owners
        )
        ran = status.get("phase") not in (None, "Pending")
        stopped = {"terminated", "waiting"} if ran else {"terminated"}
        containers = status.get("containerStatuses")
        exited = (
            isinstance(containers, list)
            and bool(containers)
            and all(
                isinstance(c, dict)
                and isinstance(c.get("state"), dict)
                and len(c["state"]) == 1
                and set(c["state"]) <= stopped
                for c in containers
            )
        )
        name = meta.get("name")
        if ours and exited and meta.get("deletionTimestamp") and isinstance(name, str):
            names.append(name)
    return names


def wait_rollout(
    read: Callable[[], dict[str, object] | None],
    seconds: float,
    cancel: threading.Event,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str]:
    """Wait, at most ``seconds``, until the DaemonSet ``read`` returns has rolled out every
    pod Ready: (done, what was seen last)."""
    deadline = clock() + seconds
    last = "not read yet"
    while True:
        daemonset = read()
        if daemonset is None:
            last = "the DaemonSet is gone"
        else:
            pending = rollout_pending(daemonset)
            if pending is None:
                status = daemonset.get("status")
                ready = status.get("numberReady", 0) if isinstance(status, dict) else 0
                return True, f"every kube-proxy pod Ready ({ready})"
            last = pending
        if clock() >= deadline or cancel.is_set():
            return False, f"kube-proxy not rolled out within {seconds:g} s: {last}"
        sleep(1.0)


def signatures_pending(kubectl: Kubectl, signed_before: Collection[str]) -> str | None:
    """Why cluster-info's signatures are not valid for its kubeconfig (None: every token that
    signs it, and every one that signed it before, has a valid signature)."""
    obj = kubectl.get(api_objects.CLUSTER_INFO)
    if obj is None:
        return "cluster-info is gone"
    data = obj.get("data")
    data = data if isinstance(data, dict) else {}
    ids = set(api_objects.jws_keys(data)) | set(signed_before)
    secrets = {
        token_id: kubectl.secret_value(
            TOKEN_NAMESPACE, f"bootstrap-token-{token_id}", "token-secret"
        )
        for token_id in sorted(ids)
    }
    live = {token_id for token_id, secret in secrets.items() if secret is not None}
    missing = sorted(live - set(api_objects.jws_keys(data)))
    bad = api_objects.unsigned(data, secrets)
    if missing or bad:
        names = ", ".join(f"{api_objects.JWS_PREFIX}{i}" for i in [*missing, *bad])
        return f"not (yet) a valid signature of the new kubeconfig: {names}"
    return None


def wait_signed(
    kubectl: Kubectl,
    signed_before: Collection[str],
    seconds: float,
    cancel: threading.Event,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """Wait, at most ``seconds``, for the bootstrap signer to sign the new kubeconfig."""
    deadline = time.monotonic() + seconds
    while True:
        pending = signatures_pending(kubectl, signed_before)
        if pending is None:
            count = len(signed_before)
            return True, f"cluster-info: {count} bootstrap token signature(s) valid"
        if time.monotonic() >= deadline or cancel.is_set():
            return False, f"cluster-info: {pending} within {seconds:g} s"
        sleep(1.0)


def restart_stamp() -> str:
    """What ``kubectl rollout restart`` writes: the time, RFC 3339."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ObjectsRun:
    """The objects' changes of one run on one master, recorded as they are made."""

    kubectl: Kubectl
    server_url: str
    old: frozenset[tuple[str, int]]
    seconds: float  # the bootstrap signer's deadline
    cancel: threading.Event
    rollout_seconds: float = 300.0  # kube-proxy's rolling restart, one node after another
    record: list[ObjectChange] = field(default_factory=list)
    done: list[ObjectChange] = field(default_factory=list)  # by this run, in order
    lines: list[str] = field(default_factory=list)

    def edits(self) -> list[tuple[api_objects.Edit, dict[str, object]]]:
        """Each kubeadm object in the cluster and what repointing makes of it. Unparsable
        (naming the object) before anything changes when one cannot be read."""
        found = []
        for ref in api_objects.OBJECTS:
            obj = self.kubectl.get(ref)
            if obj is None:
                self.lines.append(f"{ref.title}: not in the cluster")
                continue
            made = api_objects.edit(ref, obj, self.server_url, self.old)
            if made is None:
                self.lines.append(f"{ref.title}: no {ref.field}")
                continue
            self.lines.append(f"{ref.title} {ref.field}: {made.line}")
            found.append((made, obj))
        return found

    def change(self, ref: ObjectRef, obj: dict[str, object], after: str) -> None:
        """One field set to ``after``: recorded on the master first, then patched with the
        resourceVersion test."""
        before = api_objects.field_of(obj, ref.path)
        parent = api_objects.field_of_map(obj, ref.path[:-1])
        change = ObjectChange(ref, before, after, resource_version(obj, ref), parent is None)
        previous = self.record
        self.record = recorded(self.record, change)
        write_record(self.kubectl.node, self.record)
        try:
            self.kubectl.patch(ref, change_ops(change))
        except (ApiError, RuntimeError):
            if self._unchanged(ref, before):  # refused: the record as it was
                self.record = previous
                write_record(self.kubectl.node, self.record)
            else:  # it may have been made (a timeout): given back with the rest
                self.done.append(change)
            raise
        self.done.append(change)

    def _unchanged(self, ref: ObjectRef, before: str | None) -> bool:
        try:
            obj = self.kubectl.get(ref)
            return obj is not None and api_objects.field_of(obj, ref.path) == before
        except (ApiError, ValueError, RuntimeError):
            return False

    def apply(self) -> None:
        """Every object changed, kube-proxy rolled and waited on, cluster-info's signatures
        checked; ApiError (nothing given back yet: :meth:`roll_back`) on a failure."""
        edits = self.edits()
        signed_before: list[str] = []
        for made, obj in edits:
            if not made.changed or made.after is None:
                continue
            if made.ref == api_objects.CLUSTER_INFO:
                data = obj.get("data")
                signed_before = sorted(api_objects.jws_keys(data if isinstance(data, dict) else {}))
            self.change(made.ref, obj, made.after)
            self.lines.append(f"changed {made.ref.title} {made.ref.field}")
            if made.ref == api_objects.KUBE_PROXY:
                self.roll_kube_proxy()
            if made.ref == api_objects.CLUSTER_INFO:
                ok, what = wait_signed(self.kubectl, signed_before, self.seconds, self.cancel)
                self.lines.append(what)
                if not ok:
                    raise ApiError(what)

    def roll_kube_proxy(self) -> None:
        """``kubectl rollout restart``'s annotation set through a recorded change, then every
        pod waited on (Ready)."""
        ref = api_objects.KUBE_PROXY_DAEMONSET
        daemonset = self.kubectl.get(ref)
        if daemonset is None:
            self.lines.append(f"{ref.title}: not in the cluster: nothing to restart")
            return
        self.change(ref, daemonset, restart_stamp())
        self.lines.append(f"{ref.title}: rolling restart")
        self.wait_kube_proxy()

    def wait_kube_proxy(self) -> None:
        """Until every pod is rolled and Ready. The DaemonSet's own update policy paces the
        rollout (which pods, how many at a time); a pod it deleted whose containers have all
        stopped is removed from the API at once instead of when kubelet's GC has run (up to a
        minute per node)."""
        ref = api_objects.KUBE_PROXY_DAEMONSET
        removed: set[str] = set()

        def read() -> dict[str, object] | None:
            daemonset = self.kubectl.get(ref)
            if daemonset is not None:
                removed.update(self.remove_exited(daemonset))
            return daemonset

        ok, what = wait_rollout(read, self.rollout_seconds, self.cancel)
        if removed:
            self.lines.append(
                f"{ref.title}: {len(removed)} replaced pod(s) whose containers had stopped "
                "removed at once (not after kubelet's GC)"
            )
        self.lines.append(what)
        if not ok:
            raise ApiError(what)

    def remove_exited(self, daemonset: dict[str, object]) -> list[str]:
        """The DaemonSet's pods being deleted whose containers have exited, removed; on any
        failure none (kubelet removes them itself)."""
        meta = daemonset.get("metadata")
        uid = meta.get("uid") if isinstance(meta, dict) else None
        selector = selector_of(daemonset)
        if not isinstance(uid, str) or not uid or selector is None:
            return []
        namespace = api_objects.KUBE_PROXY_DAEMONSET.namespace
        try:
            names = exited_pods(self.kubectl.pods(namespace, selector), uid)
            for name in names:
                self.kubectl.remove_pod(namespace, name)
        except (ApiError, RuntimeError):
            return []
        return names

    def give_back(self, changes: list[ObjectChange], strict: bool = False) -> list[str]:
        """Each change given back (ConfigMaps first, in reverse, then the DaemonSet's template,
        whose change rolls kube-proxy again onto its old kubeconfig); the problems met. A field
        that holds something other than what kubeha wrote is left as it is and named;
        ``strict`` (an uninstall): then nothing is given back at all."""
        problems: list[str] = []
        todo: list[tuple[ObjectChange, dict[str, object]]] = []
        for change in reversed(changes):
            ref = change.ref
            try:
                obj = self.kubectl.get(ref)
                now = api_objects.field_of(obj, ref.path) if obj is not None else None
            except (ApiError, ValueError) as exc:
                problems.append(f"{ref.title}: cannot be read: {exc}")
                continue
            if obj is None or now == change.before:  # never changed, or given back already
                self.record = without(self.record, ref)
            elif now != change.after:
                problems.append(
                    f"{ref.title}: {ref.field} was changed since kubeha set it (it no longer "
                    "holds what kubeha wrote): left as it is; its value before kubeha is in "
                    f"{RECORD} on {self.kubectl.node_name}"
                )
            else:
                todo.append((change, obj))
        if strict and problems:
            return problems
        todo.sort(key=lambda item: item[0].ref.kind == "DaemonSet")  # stable: templates last
        rolled = False
        for change, obj in todo:
            ref = change.ref
            try:
                version = resource_version(obj, ref)
                self.kubectl.patch(ref, give_back_ops(change, obj, version))
            except (ApiError, RuntimeError) as exc:
                problems.append(f"{ref.title}: not given back: {exc}")
                continue
            self.record = without(self.record, ref)
            self.lines.append(f"gave back {ref.title} {ref.field}")
            rolled = rolled or ref == api_objects.KUBE_PROXY_DAEMONSET
        write_record(self.kubectl.node, self.record)
        if rolled:
            try:
                self.wait_kube_proxy()
            except ApiError as exc:
                problems.append(str(exc))
        return problems
