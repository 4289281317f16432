"""The objects' changes through the API (wizard.engine.api_objects) against an in-memory API
that applies JSON patches the way the apiserver does (a failed ``test`` op refuses the whole
patch): each change recorded before it is made, refused when the object changed since it was
read, given back in reverse on a failure (ConfigMaps before the DaemonSet's template), and an
uninstall that finds a field changed since refuses without touching anything. The DaemonSet's
readiness wait is tested here against a fake clock: the binary lab has no kubelet, so its
real test waits for the kubeadm lab."""

from __future__ import annotations

import copy
import json
import threading

import pytest

from tests.support.fake_node import FakeNode
from wizard.engine import api_objects as e
from wizard.retrofit import api_objects as a

M1 = "https://10.0.0.11:6443"
LB = "https://api.lb.test:8443"
OLD = frozenset({("10.0.0.11", 6443)})
TOKEN = ("abcdef", "0123456789abcdef")


def kubeconfig(server: str) -> str:
    return f"apiVersion: v1\nclusters:\n- cluster:\n    server: {server}\n  name: default\n"


class FakeApi:
    """kubectl's get and patch against objects in memory; cluster-info is signed again on
    each change when ``signer`` is on."""

    def __init__(self, m1: str = M1) -> None:
        self.node = FakeNode("m1")
        self.node_name = "m1"
        self.signer = True
        self.version = 100
        self.meddle: a.ObjectRef | None = None  # changed by someone right after kubeha reads it
        self.patches: list[str] = []
        self.pod_list: list[dict] = []  # kube-proxy's pods, as kubectl get pods lists them
        self.selectors: list[str] = []
        self.removed: list[str] = []
        cm = {"kind": "ConfigMap"}
        self.objects: dict[tuple[str, str], dict] = {
            ("kube-system", "kube-proxy"): {
                **cm,
                "data": {"kubeconfig.conf": kubeconfig(m1), "config.conf": "mode: ''\n"},
            },
            ("kube-public", "cluster-info"): {**cm, "data": {"kubeconfig": kubeconfig(m1)}},
            ("kube-system", "kubeadm-config"): {
                **cm,
                "data": {
                    "ClusterConfiguration": "kind: ClusterConfiguration\n"
                    f"controlPlaneEndpoint: {m1.removeprefix('https://')}\n"
                },
            },
            ("kube-system", "ds/kube-proxy"): {
                "kind": "DaemonSet",
                "metadata": {"generation": 1},
                "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}}}},
                "status": {"observedGeneration": 1, "desiredNumberScheduled": 0},
            },
        }
        for obj in self.objects.values():
            obj.setdefault("metadata", {})["resourceVersion"] = self._next()
        self._sign()

    def _next(self) -> str:
        self.version += 1
        return str(self.version)

    def _key(self, ref: a.ObjectRef) -> tuple[str, str]:
        return ref.namespace, ("ds/" if ref.kind == "DaemonSet" else "") + ref.name

    def _sign(self) -> None:
        data = self.objects[("kube-public", "cluster-info")]["data"]
        data["jws-kubeconfig-abcdef"] = a.detached_jws(data["kubeconfig"], *TOKEN)

    def get(self, ref: a.ObjectRef):
        obj = self.objects.get(self._key(ref))
        found = copy.deepcopy(obj)
        if ref == self.meddle and obj is not None:
            obj["data"]["other"] = "someone's change"
            obj["metadata"]["resourceVersion"] = self._next()
        return found

    def patch(self, ref: a.ObjectRef, ops: list[dict]):
        key = self._key(ref)
        obj = copy.deepcopy(self.objects[key])
        for op in ops:
            parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            parent = obj
            for part in parts[:-1]:
                parent = parent[part]
            if op["op"] == "test":
                if parent.get(parts[-1]) != op["value"]:
                    raise e.ApiError(f"kubectl patch {ref.title} failed: test failed")
            elif op["op"] == "remove":
                del parent[parts[-1]]
            else:
                parent[parts[-1]] = copy.deepcopy(op["value"])
        obj["metadata"]["resourceVersion"] = self._next()
        if ref.kind == "DaemonSet":
            obj["metadata"]["generation"] += 1
            obj["status"]["observedGeneration"] = obj["metadata"]["generation"]
        self.objects[key] = obj
        self.patches.append(f"{ref.title} {json.dumps(ops[1:])[:60]}")
        if ref == a.CLUSTER_INFO and self.signer:
            self._sign()
        return copy.deepcopy(obj)

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return TOKEN[1] if name == f"bootstrap-token-{TOKEN[0]}" else None

    def pods(self, namespace: str, selector: str) -> list[dict]:
        self.selectors.append(f"{namespace} {selector}")
        return copy.deepcopy(self.pod_list)

    def remove_pod(self, namespace: str, name: str) -> None:
        self.removed.append(f"{namespace}/{name}")

    def data(self) -> dict:
        return {k: copy.deepcopy(v.get("data") or v["spec"]) for k, v in self.objects.items()}


def objects_run(api: FakeApi) -> e.ObjectsRun:
    return e.ObjectsRun(api, LB, OLD, 2.0, threading.Event(), rollout_seconds=2.0)  # type: ignore[arg-type]


def test_apply_records_each_field_before_it_changes_it():
    api = FakeApi()
    before = api.data()
    run = objects_run(api)
    run.apply()
    assert [c.ref for c in run.done] == [
        a.KUBE_PROXY,
        a.KUBE_PROXY_DAEMONSET,
        a.CLUSTER_INFO,
        a.KUBEADM_CONFIG,
    ]
    assert api.objects[("kube-system", "kube-proxy")]["data"]["kubeconfig.conf"] == kubeconfig(LB)
    config = api.objects[("kube-system", "kubeadm-config")]["data"]["ClusterConfiguration"]
    assert config.endswith("controlPlaneEndpoint: api.lb.test:8443\n")
    annotations = api.objects[("kube-system", "ds/kube-proxy")]["spec"]["template"]["metadata"]
    assert set(annotations["annotations"]) == {a.RESTARTED_AT}
    recorded, problem = e.read_record(api.node)
    assert problem is None and recorded == run.done
    assert recorded[0].before == before[("kube-system", "kube-proxy")]["kubeconfig.conf"]
    assert recorded[1].before is None and recorded[1].parent_absent
    assert "cluster-info: 1 bootstrap token signature(s) valid" in run.lines
    # Given back exactly, in reverse, the record gone.
    again = objects_run(api)
    again.record = recorded
    assert again.give_back(recorded, strict=True) == []
    assert api.data() == before
    assert e.RECORD not in api.node.files
    order = [p.split(" ")[1] for p in api.patches[4:]]
    assert order[-1] == "kube-system/kube-proxy" and api.patches[-1].startswith("DaemonSet")


def test_an_object_changed_after_it_was_read_is_refused_and_the_run_given_back():
    api = FakeApi()
    api.meddle = a.KUBEADM_CONFIG
    before = api.data()
    run = objects_run(api)
    with pytest.raises(e.ApiError, match="kubeadm-config failed: test failed"):
        run.apply()
    assert run.give_back(run.done) == []
    after = api.data()
    theirs = after.pop(("kube-system", "kubeadm-config"))
    assert theirs["other"] == "someone's change"  # their change kept, ours never made
    assert "10.0.0.11:6443" in theirs["ClusterConfiguration"]
    before.pop(("kube-system", "kubeadm-config"))
    assert after == {k: v for k, v in before.items()}
    assert e.read_record(api.node) == ([], None)


def test_a_signature_that_never_comes_fails_and_everything_is_given_back():
    api = FakeApi()
    api.signer = False
    before = api.data()
    run = objects_run(api)
    with pytest.raises(e.ApiError, match=r"jws-kubeconfig-abcdef within 2 s"):
        run.apply()
    assert [c.ref for c in run.done] == [a.KUBE_PROXY, a.KUBE_PROXY_DAEMONSET, a.CLUSTER_INFO]
    assert run.give_back(run.done) == []
    del before[("kube-public", "cluster-info")]["jws-kubeconfig-abcdef"]  # not signed again
    after = api.data()
    del after[("kube-public", "cluster-info")]["jws-kubeconfig-abcdef"]
    assert after == before  # the template's annotations map removed with kubeha's key


def test_an_uninstall_refuses_a_field_changed_since_and_touches_nothing():
    api = FakeApi()
    run = objects_run(api)
    run.apply()
    key = ("kube-system", "kube-proxy")
    api.objects[key]["data"]["kubeconfig.conf"] += "# by hand\n"
    now = api.data()
    back = objects_run(api)
    back.record = list(run.done)
    problems = back.give_back(run.done, strict=True)
    assert len(problems) == 1
    assert problems[0].startswith("ConfigMap kube-system/kube-proxy: data.kubeconfig.conf was")
    assert api.data() == now and e.read_record(api.node)[0] == run.done


def test_unparsable_objects_stop_before_any_change():
    api = FakeApi()
    api.objects[("kube-public", "cluster-info")]["data"]["kubeconfig"] = "kind: Config\n"
    before = api.data()
    with pytest.raises(a.Unparsable, match=r"ConfigMap kube-public/cluster-info: data\.kubeconfig"):
        objects_run(api).apply()
    assert api.data() == before and api.patches == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def daemonset(generation: int, observed: int, desired: int, **status: int) -> dict:
    return {
        "metadata": {"generation": generation},
        "status": {"observedGeneration": observed, "desiredNumberScheduled": desired, **status},
    }


def test_the_rollout_wait_waits_until_every_pod_is_updated_and_ready():
    full = {"updatedNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3}
    seen = [
        daemonset(2, 1, 3, **full),
        daemonset(2, 2, 3, updatedNumberScheduled=1, numberReady=3, numberAvailable=3),
        daemonset(2, 2, 3, updatedNumberScheduled=3, numberReady=2, numberAvailable=2),
        daemonset(2, 2, 3, **full, numberUnavailable=1),
        daemonset(2, 2, 3, **full),
    ]
    reads = iter(seen)
    clock = Clock()
    ok, what = e.wait_rollout(lambda: next(reads), 60, threading.Event(), clock.sleep, clock)
    assert ok and what == "every kube-proxy pod Ready (3)" and clock.now == 4.0
    assert (
        e.rollout_pending(seen[0]) == "the DaemonSet controller has not seen the new template yet"
    )
    assert e.rollout_pending(seen[1]) == "1/3 pod(s) updated"
    assert e.rollout_pending(seen[2]) == "2/3 pod(s) Ready"


def test_the_rollout_wait_gives_up_at_its_deadline_saying_what_it_saw():
    clock = Clock()
    stuck = daemonset(2, 2, 3, updatedNumberScheduled=3, numberReady=1, numberAvailable=1)
    ok, what = e.wait_rollout(lambda: stuck, 30, threading.Event(), clock.sleep, clock)
    assert not ok and what == "kube-proxy not rolled out within 30 s: 1/3 pod(s) Ready"
    assert clock.now == 30.0


def pod(
    name: str, owner: str = "ds-uid", deleting: bool = True, *states: str, phase: str = "Running"
) -> dict:
    meta: dict = {"name": name, "ownerReferences": [{"uid": owner, "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T11:40:22Z"
    statuses = [{"state": {state: {}}} for state in states]
    return {"metadata": meta, "status": {"phase": phase, "containerStatuses": statuses}}


def test_the_rollout_removes_a_pod_the_daemonset_deleted_once_its_containers_exited():
    """kubelet 1.20 removes a deleted pod from the API only after its GC has taken the pod's
    containers and sandbox, and the DaemonSet controller starts the node's new pod only after:
    kubeha removes a pod the controller deleted whose every container has stopped, and no
    other. Stopped includes a container kubelet removed at once (it died after the deletion)
    and reports as waiting, in a pod that had run; a pod that never ran is left alone."""
    api = FakeApi()
    daemonset = api.objects[("kube-system", "ds/kube-proxy")]
    daemonset["metadata"]["uid"] = "ds-uid"
    daemonset["spec"]["selector"] = {"matchLabels": {"k8s-app": "kube-proxy"}}
    api.pod_list = [
        pod("kube-proxy-exited", "ds-uid", True, "terminated"),
        pod("kube-proxy-stopping", "ds-uid", True, "running"),
        pod("kube-proxy-one-left", "ds-uid", True, "terminated", "running"),
        pod("kube-proxy-new", "ds-uid", False, "waiting"),
        pod("kube-proxy-running", "ds-uid", False, "terminated"),  # a restart: not deleted
        pod("someone-elses", "other-uid", True, "terminated"),
        pod("kube-proxy-no-status", "ds-uid", True),
        # kubelet removed the dead container at once: the kubeadm lab's status, as it was
        pod("kube-proxy-removed", "ds-uid", True, "waiting"),
        pod("kube-proxy-never-ran", "ds-uid", True, "waiting", phase="Pending"),
        pod("kube-proxy-one-removed", "ds-uid", True, "waiting", "running"),
    ]
    run = objects_run(api)
    run.apply()
    assert api.selectors and set(api.selectors) == {"kube-system k8s-app=kube-proxy"}
    assert api.removed == ["kube-system/kube-proxy-exited", "kube-system/kube-proxy-removed"]
    assert any("2 replaced pod(s) whose containers had stopped" in line for line in run.lines)
    assert e.exited_pods(api.pod_list, "ds-uid") == ["kube-proxy-exited", "kube-proxy-removed"]


def test_a_daemonset_selecting_by_expressions_has_no_pod_removed():
    selector = {"matchLabels": {"k8s-app": "kube-proxy"}, "matchExpressions": [{"key": "x"}]}
    assert e.selector_of({"spec": {"selector": selector}}) is None
    assert e.selector_of({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}}) == "a=1,b=2"
    assert e.selector_of({"spec": {}}) is None


def test_the_dry_run_prints_each_objects_diff_escaped():
    from wizard.engine.model import RunSummary
    from wizard.engine.report import object_lines

    title = "ConfigMap kube-system/kube-proxy data.kubeconfig.conf"
    diff = f"--- {title}\n+++ {title} (kubeha)\n-    server: {M1}\n+    server: {LB}\x1b[2J\n"
    summary = RunSummary(
        "run", "p", (), objects=((title, diff), ("ConfigMap x/y data.z", "unchanged: left"))
    )
    lines = object_lines(summary)
    assert lines[0] == "=== cluster objects (through the API)"
    assert lines[1] == f"    {title}: would change"
    assert f"    +    server: {LB}\\x1b[2J" in lines
    assert lines[-1] == "    ConfigMap x/y data.z: unchanged: left"
    assert object_lines(RunSummary("run", "p", ())) == []


# --- the run's objects phase, on in-memory nodes -------------------------------------------


def attach(node: FakeNode, api: FakeApi) -> None:
    """``node`` answers kubectl from ``api`` (its admin kubeconfig there)."""
    import base64
    import shlex

    from wizard.engine.transport import CommandResult

    refs = {
        (ref.resource, ref.namespace, ref.name): ref for ref in (*a.OBJECTS, a.KUBE_PROXY_DAEMONSET)
    }
    run, sh = node.run, node.sh

    def answer(argv: list[str], stdin: str | None) -> CommandResult:
        words = argv if argv[0] == "kubectl" else shlex.split(argv[2].split(" -p ")[0])
        verb, resource, name, namespace = words[3], words[4], words[5], words[7]
        try:
            if verb == "patch":
                found = api.patch(refs[(resource, namespace, name)], json.loads(stdin or ""))
                return CommandResult(tuple(argv), 0, json.dumps(found), "")
            if resource == "secret":
                value = api.secret_value(namespace, name, "token-secret") or ""
                return CommandResult(tuple(argv), 0, base64.b64encode(value.encode()).decode(), "")
        except e.ApiError as exc:
            return CommandResult(tuple(argv), 1, "", str(exc))
        obj = api.get(refs[(resource, namespace, name)])
        if obj is None:
            return CommandResult(tuple(argv), 1, "", "Error from server (NotFound)")
        return CommandResult(tuple(argv), 0, json.dumps(obj), "")

    def kubectl_run(argv, timeout=120, stdin=None):
        argv = list(argv)
        if argv[0] == "kubectl" or (argv[:2] == ["sh", "-c"] and argv[2].startswith("kubectl")):
            return answer(argv, stdin)
        return run(argv, timeout, stdin)

    def kubectl_sh(script, timeout=120):
        if "command -v kubectl" in script:
            return CommandResult(("sh",), 0, "ok\n", "")
        return sh(script, timeout)

    node.run = kubectl_run  # type: ignore[method-assign]
    node.sh = kubectl_sh  # type: ignore[method-assign]


@pytest.fixture
def kubeadm_cluster():
    """A local-nginx profile with [clients] repoint on in-memory nodes (every kubeconfig on the
    first master), whose first master answers kubectl from a FakeApi."""
    import dataclasses

    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.support.examples import example_profile
    from tests.wizard.engine.test_clients import cluster_for
    from tests.wizard.retrofit.test_cert_preflight import _ca
    from wizard.profile import Clients

    ca_key, ca = _ca()
    profile = dataclasses.replace(example_profile("local-nginx"), clients=Clients(repoint=True))
    cluster = cluster_for(profile, (ca_key, ca, ca.public_bytes(Encoding.PEM)))
    api = FakeApi(f"https://{profile.masters[0].address}:6443")
    first = cluster.nodes[profile.masters[0].name]
    attach(first, api)
    return profile, cluster, api, first


def run(profile, cluster, uninstall: bool = False, **options):
    from wizard.engine.apply import run_apply, run_uninstall
    from wizard.engine.model import ApplyOptions
    from wizard.render import build_plan

    events: list = []
    go = run_uninstall if uninstall else run_apply
    summary = go(
        build_plan(profile),
        ApplyOptions(verify_timeout=2, **options),
        events.append,
        connector=cluster,
    )
    return summary, [ev for ev in events if ev.phase == "objects"]


def test_the_objects_phase_dry_run_apply_and_uninstall(kubeadm_cluster):
    profile, cluster, api, first = kubeadm_cluster
    before = api.data()
    summary, events = run(profile, cluster, dry_run=True)
    assert summary.ok and api.patches == []
    titles = [title for title, _ in summary.objects]
    assert titles == [f"{ref.title} {ref.field}" for ref in a.OBJECTS]
    assert all(text.startswith("--- ") for _, text in summary.objects)
    assert "would restart DaemonSet kube-system/kube-proxy (rolling)" in events[-1].lines

    summary, events = run(profile, cluster)
    assert summary.ok, (summary.cluster_problems, [ev.message for ev in events])
    assert events[-1].status == "changed" and e.RECORD in first.files
    proxy = api.objects[("kube-system", "kube-proxy")]["data"]["kubeconfig.conf"]
    assert proxy == before[("kube-system", "kube-proxy")]["kubeconfig.conf"].replace(
        f"https://{profile.masters[0].address}:6443", "https://apiserver.cluster.local:8443"
    )
    summary, events = run(profile, cluster)  # again: nothing to change
    assert summary.ok and events[-1].status == "unchanged"

    summary, events = run(profile, cluster, uninstall=True)
    assert summary.ok, [n.reason for n in summary.nodes]
    assert api.data() == before and e.RECORD not in first.files


def test_a_failed_object_fails_the_run_with_every_object_given_back(kubeadm_cluster):
    profile, cluster, api, first = kubeadm_cluster
    api.signer = False
    before = api.data()
    summary, _ = run(profile, cluster)
    assert all(n.ok for n in summary.nodes) and not summary.ok
    (problem,) = summary.cluster_problems
    assert "jws-kubeconfig-abcdef" in problem and "changes given back" in problem
    after = api.data()
    for data in (before, after):
        del data[("kube-public", "cluster-info")]["jws-kubeconfig-abcdef"]
    assert after == before and e.RECORD not in first.files


def test_an_uninstall_stops_before_any_node_when_an_object_changed_since(kubeadm_cluster):
    profile, cluster, api, first = kubeadm_cluster
    assert run(profile, cluster)[0].ok
    api.objects[("kube-system", "kubeadm-config")]["data"]["ClusterConfiguration"] += "#\n"
    summary, _ = run(profile, cluster, uninstall=True)
    assert {n.state.value for n in summary.nodes} == {"untouched"}
    assert "ConfigMap kube-system/kubeadm-config: data.ClusterConfiguration was changed" in (
        summary.nodes[0].reason
    )
    assert e.RECORD in first.files


def test_objects_follow_only_a_run_over_every_node(kubeadm_cluster):
    """--only leaves kubeadm's objects alone (every node's kube-proxy reads them); an
    uninstall of some nodes while they name the load balancer stops before any change."""
    profile, cluster, api, first = kubeadm_cluster
    before = api.data()
    some = (profile.masters[0].name,)
    summary, events = run(profile, cluster, only=some)
    assert summary.ok and api.data() == before
    assert events[-1].status == "skipped" and "leaves out" in events[-1].message
    assert run(profile, cluster)[0].ok
    summary, events = run(profile, cluster, uninstall=True, only=some)
    assert {n.state.value for n in summary.nodes} == {"untouched"}
    assert "uninstall every node in one run" in summary.nodes[0].reason
    assert e.RECORD in first.files
    assert run(profile, cluster, uninstall=True)[0].ok and api.data() == before


def test_an_uninstall_with_a_master_down_goes_on_where_no_master_has_kubeadms_config(
    kubeadm_cluster,
):
    """A master down is the reason for many an uninstall: where no master that answers has
    kubeadm's admin kubeconfig, there are no kubeadm objects, and the uninstall goes on."""
    profile, cluster, _api, _first = kubeadm_cluster
    from tests.wizard.engine.test_clients import ADMIN

    for _name, node in cluster.nodes.items():
        node.files.pop(ADMIN, None)
        node.run = type(node).run.__get__(node)  # kubectl answers no more (no admin.conf)
    cluster.unreachable.add(profile.masters[0].name)
    summary, events = run(profile, cluster, uninstall=True)
    assert events and events[-1].status == "info" and "no kubeadm objects" in events[-1].message
    assert all(
        n.state.value != "untouched" or n.node == profile.masters[0].name for n in summary.nodes
    ), [(n.node, n.state, n.reason) for n in summary.nodes]


def test_an_uninstall_stops_when_the_master_holding_the_record_is_down(kubeadm_cluster):
    """On a kubeadm cluster (the masters that answer have kubeadm's admin kubeconfig and
    kubectl) the record may be on the master that is down: nothing is touched."""
    profile, cluster, api, first = kubeadm_cluster
    for master in profile.masters[1:]:
        attach(cluster.nodes[master.name], api)
    assert run(profile, cluster)[0].ok
    assert e.RECORD in first.files
    cluster.unreachable.add(profile.masters[0].name)
    summary, _ = run(profile, cluster, uninstall=True)
    assert {n.state.value for n in summary.nodes} == {"untouched"}
    assert "cannot connect" in summary.nodes[1].reason
