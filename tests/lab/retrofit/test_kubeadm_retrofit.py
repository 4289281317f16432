"""Make a kubeadm cluster HA, on the kubeadm lab (``lab up --control-plane kubeadm``: kubelet,
containerd and kubeadm's static pods, kube-proxy as a DaemonSet), with the lab's profiles
(systemd install, ``[clients] repoint = true``: kubeadm's kubeconfigs and objects).

In order, on one bring-up shared with tests/lab/environment/test_kubeadm_lab.py
(tests/support/kubeadm_fixture.py), local-haproxy in depth:

- a dry run shows each object's diff and changes nothing (not a resourceVersion); apply: every
  node verifies; a worker's kubelet.conf and every admin.conf name the balancer, kubeadm's local
  kubeconfigs (controller-manager.conf, scheduler.conf, a master's kubelet.conf on its own
  apiserver) stay local; kube-proxy's ConfigMap names the balancer and its pods are new and
  Ready, connected through the worker's own balancer; cluster-info names the balancer with a
  bootstrap signature that verifies; kubeadm-config's controlPlaneEndpoint changed and nothing
  else in it; the record is private; kubeha's patch at a stale resourceVersion is refused.
- ``repoint_local = true`` applied over it (the objects unchanged): the local kubeconfigs
  repointed, and kubelet restarted their static pods when kubeha moved each manifest out and
  back (new containers), every manifest byte for byte as it was.
- m1's kube-apiserver killed (a crash: kubelet starts it again), then m1 cut off the network:
  kubectl (on m1 itself while its apiserver is dead, and on every node), the leader leases and
  kube-proxy (a Service made during each fault is programmed on every worker) carry on.
- an object changed by hand stops the uninstall before any change, naming it; uninstall: every
  file and every object back byte for byte, kube-proxy rolled back and Ready.

The other strategies, and local-haproxy again, pass one compact chain each (apply, kill and cut
of m1, uninstall byte for byte: tests/support/kubeadm_checks.py) with their balancer as a static
pod, haproxy-keepalived's joining a worker afterwards: tests/lab/install/test_static_pod_kubeadm.py.
What kubeha does to kubeadm's clients and objects is the same whatever runs the balancer, and the
systemd units of each strategy are proven on the real control plane
(tests/lab/retrofit/test_clients_repoint.py).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.support.kubeadm_checks import (
    DEADLINE_S,
    KUBE,
    KUBECONFIGS,
    LOCAL,
    M1,
    PODS,
    all_ready,
    apply,
    connected_only_to,
    files,
    get,
    kube_proxy_pods,
    kubectl,
    m1_killed_then_cut,
    objects,
    servers,
    signed,
    wait_for,
)
from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401
from tests.support.labkit import lab_profile, snapshot, states, uninstall
from wizard.engine import api_objects as engine_objects
from wizard.engine.api_objects import RECORD
from wizard.lab import Lab
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.retrofit import api_objects

pytestmark = pytest.mark.lab

STRATEGY = "local-haproxy"
# What the lab held before kubeha (captured once, compared after the uninstall), and what the
# apply made (compared by the later steps).
BEFORE: dict[str, Any] = {}
APPLIED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def profile(kubeadm_lab: Lab):  # noqa: F811
    made = lab_profile(kubeadm_lab, STRATEGY)
    assert made.clients.repoint and not made.clients.repoint_local  # the lab profile's
    BEFORE["files"] = files(kubeadm_lab)
    BEFORE["objects"] = objects(kubeadm_lab)
    BEFORE["snapshot"] = snapshot(kubeadm_lab)
    yield made
    if kubeadm_lab.is_cut("m1"):
        kubeadm_lab.restore("m1")
    uninstall(
        dataclasses.replace(made, clients=dataclasses.replace(made.clients, repoint_local=True))
    )


def test_apply_repoints_kubeadms_clients_and_objects(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    lb = build_plan(profile).server_url
    before = BEFORE["files"]
    pods_before = kube_proxy_pods(lab)
    assert all(ready for _, ready in pods_before.values()), pods_before
    versions = {ref: get(lab, ref)["metadata"]["resourceVersion"] for ref in api_objects.OBJECTS}

    # A dry run: each object's diff shown, nothing changed (not even a resourceVersion).
    summary, recorder = apply(profile, dry_run=True)
    assert summary.ok, recorder.text()
    shown = "\n".join("\n".join(e.lines) for e in recorder.events if e.phase == "objects")
    endpoint = lb.removeprefix("https://")
    assert f"-    server: {M1}" in shown and f"+    server: {lb}" in shown, shown
    assert "-controlPlaneEndpoint: 10.77.0.11:6443" in shown, shown
    assert f"+controlPlaneEndpoint: {endpoint}" in shown, shown
    assert "would restart DaemonSet kube-system/kube-proxy" in shown, shown
    assert objects(lab) == BEFORE["objects"] and files(lab) == before
    for ref, version in versions.items():
        assert get(lab, ref)["metadata"]["resourceVersion"] == version

    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    assert all(n.ok for n in summary.nodes), recorder.text()

    after = files(lab)
    for n in lab.nodes:
        mine = {f"https://{h}:6443" for h in (n.address, n.name, "127.0.0.1", "localhost")}
        for conf in KUBECONFIGS:
            path = f"{KUBE}/{conf}"
            if path not in before[n.name]:
                assert path not in after[n.name]
                continue
            old = before[n.name][path]
            local = conf in LOCAL or (conf == "kubelet.conf" and n.role == "master")
            if local and set(servers(old)) <= mine:  # kubeadm's local ones: kept
                assert after[n.name][path] == old, (n.name, path)
            else:  # the rest: the same file with the balancer as its server
                assert servers(old) == [M1], (n.name, path, servers(old))
                assert after[n.name][path] == old.replace(M1, lb), (n.name, path)
        for path, text in before[n.name].items():  # manifests untouched
            if path.startswith(f"{KUBE}/manifests/"):
                assert after[n.name][path] == text, (n.name, path)
    for conf in ("admin.conf",):
        for m in lab.masters:
            assert servers(after[m.name][f"{KUBE}/{conf}"]) == [lb]
    for w in lab.workers:
        assert servers(after[w.name][f"{KUBE}/kubelet.conf"]) == [lb]

    # kubeadm's objects: each field changed, and nothing else.
    now = objects(lab)
    was = BEFORE["objects"]
    proxy = api_objects.KUBE_PROXY.title
    assert now[proxy]["kubeconfig.conf"] == was[proxy]["kubeconfig.conf"].replace(M1, lb)
    assert servers(now[proxy]["kubeconfig.conf"]) == [lb]
    assert {k: v for k, v in now[proxy].items() if k != "kubeconfig.conf"} == {
        k: v for k, v in was[proxy].items() if k != "kubeconfig.conf"
    }
    info = api_objects.CLUSTER_INFO.title
    assert servers(now[info]["kubeconfig"]) == [lb]
    assert now[info]["kubeconfig"] == was[info]["kubeconfig"].replace(M1, lb)
    assert signed(lab) is True  # the bootstrap signer re-signed it: kubeadm join trusts it
    config = api_objects.KUBEADM_CONFIG.title
    endpoint = lb.removeprefix("https://")
    assert now[config]["ClusterConfiguration"] == was[config]["ClusterConfiguration"].replace(
        "controlPlaneEndpoint: 10.77.0.11:6443", f"controlPlaneEndpoint: {endpoint}"
    )
    assert now[config]["ClusterConfiguration"] != was[config]["ClusterConfiguration"]
    assert {k: v for k, v in now[config].items() if k != "ClusterConfiguration"} == {
        k: v for k, v in was[config].items() if k != "ClusterConfiguration"
    }
    assert set(now["template"]["metadata"].get("annotations", {})) == {api_objects.RESTARTED_AT}
    mode = lab.exec_in_node("m1", ["stat", "-c", "%a", RECORD]).stdout.strip()
    assert mode == "600"  # the record of the objects, private on the master kubeha ran on
    # kubeha's patch at a resourceVersion the object has left behind: the apiserver refuses it.
    ref = api_objects.KUBEADM_CONFIG
    stale = engine_objects.ObjectChange(
        ref, now[config]["ClusterConfiguration"], "kind: ClusterConfiguration\n", versions[ref]
    )
    ops = json.dumps(engine_objects.change_ops(stale))
    argv = ["kubectl", f"--kubeconfig={KUBE}/admin.conf", "patch", "configmap", ref.name,
            "-n", ref.namespace, "--type=json", "-p", ops]  # fmt: skip
    refused = lab.exec_in_node("m2", argv)
    assert refused.returncode != 0, refused.stdout
    assert objects(lab)[config] == now[config]

    # kube-proxy: every pod new (the rolling restart) and Ready, each through its own balancer.
    old_uids = {uid for uid, _ in pods_before.values()}
    wait_for(
        all_ready(lab, frozenset(old_uids)), DEADLINE_S, "new kube-proxy pods Ready on every node"
    )
    APPLIED["uids"] = {uid for uid, _ in kube_proxy_pods(lab).values()}
    for w in lab.workers:
        for program in ("kube-proxy", "kubelet"):
            connected_only_to(lab, w.name, program, "127.0.0.1:8443")
    APPLIED["files"] = after
    APPLIED["objects"] = now


def test_repoint_local_restarts_static_pods_through_their_manifests(
    kubeadm_lab: Lab,  # noqa: F811
    profile: Profile,
):
    lab = kubeadm_lab
    assert APPLIED, "the apply did not pass"
    lb = build_plan(profile).server_url
    local = dataclasses.replace(
        profile, clients=dataclasses.replace(profile.clients, repoint_local=True)
    )

    def containers(ready: bool = True) -> dict[str, str]:
        """Each controller-manager's and scheduler's container, "" while it is not Ready (or,
        ``ready=False``, not running)."""
        text = kubectl(lab, "m2", "-n", "kube-system", "get", "pods", "-o", "json")
        found = {}
        for pod in json.loads(text)["items"]:
            name = pod["metadata"]["name"]
            statuses = pod["status"].get("containerStatuses") or [{}]
            up = statuses[0].get("ready") if ready else "running" in statuses[0].get("state", {})
            if name.rsplit("-", 1)[0] in PODS.values():
                found[name] = statuses[0].get("containerID", "") if up else ""
        return found

    def every_one_running() -> bool | dict[str, str]:
        # Running is enough for the baseline: the apply before restarted kubelet on m2 and m3
        # (their kubelet.conf), whose probes then take a minute to call the pods Ready again
        # while their containers run on; what is proven is a new container for each, Ready.
        now = containers(ready=False)
        return (len(now) == 2 * len(lab.masters) and all(now.values())) or now

    wait_for(every_one_running, DEADLINE_S, "each master's controller-manager and scheduler")
    before = containers(ready=False)
    summary, recorder = apply(local)
    assert summary.ok, recorder.text()
    done = [e for e in recorder.events if e.phase == "objects" and e.status.value != "started"]
    assert done and done[-1].status.value == "unchanged", recorder.text()  # nothing to change
    after = files(lab)
    for m in lab.masters:
        for conf in (*LOCAL, "kubelet.conf"):
            assert servers(after[m.name][f"{KUBE}/{conf}"]) == [lb], (m.name, conf)
        for path, text in BEFORE["files"][m.name].items():
            if path.startswith(f"{KUBE}/manifests/"):
                assert after[m.name][path] == text, (m.name, path)  # byte for byte
        leftovers = lab.exec_in_node(m.name, ["sh", "-c", f"ls -a {KUBE} {KUBE}/manifests"]).stdout
        assert ".away" not in leftovers, leftovers

    def restarted() -> bool | dict[str, str]:
        now = containers()
        fresh = all(now.get(name) and now[name] != old for name, old in before.items())
        return fresh or now

    wait_for(restarted, DEADLINE_S, "a new container for each static pod, Ready")
    for event in recorder.events:
        if "static pod" in event.message or any("static pod" in line for line in event.lines):
            print(f"[kubeadm retrofit] {event.node}: {event.message} {event.lines}")


def test_m1_killed_and_cut_kubectl_leases_and_kube_proxy_carry_on(
    kubeadm_lab: Lab,  # noqa: F811
    profile: Profile,
):
    assert APPLIED, "the apply did not pass"
    m1_killed_then_cut(kubeadm_lab, STRATEGY)


def test_uninstall_gives_every_file_and_object_back(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    local = dataclasses.replace(
        profile, clients=dataclasses.replace(profile.clients, repoint_local=True)
    )
    uids = {uid for uid, _ in kube_proxy_pods(lab).values()}
    # Someone changed kube-proxy's kubeconfig since: the uninstall stops before any change,
    # naming it.
    conf = objects(lab)[api_objects.KUBE_PROXY.title]["kubeconfig.conf"]
    hand = json.dumps({"data": {"kubeconfig.conf": conf.replace("tokenFile", "tokenFile ")}})
    kubectl(lab, "m2", "-n", "kube-system", "patch", "configmap", "kube-proxy", "-p", hand)
    try:
        summary = uninstall(local)
        assert not summary.ok
        assert set(states(summary).values()) == {"untouched"}
        assert "ConfigMap kube-system/kube-proxy" in summary.nodes[0].reason, summary.nodes[0]
    finally:
        back = json.dumps({"data": {"kubeconfig.conf": conf}})
        kubectl(lab, "m2", "-n", "kube-system", "patch", "configmap", "kube-proxy", "-p", back)
    summary = uninstall(local)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert files(lab) == BEFORE["files"]
    assert snapshot(lab) == BEFORE["snapshot"]
    assert objects(lab) == BEFORE["objects"]
    wait_for(lambda: signed(lab), DEADLINE_S, "the given-back cluster-info's signature")
    wait_for(all_ready(lab, frozenset(uids)), DEADLINE_S, "kube-proxy rolled back, every pod Ready")
    for w in lab.workers:
        connected_only_to(lab, w.name, "kube-proxy", M1.removeprefix("https://"))
