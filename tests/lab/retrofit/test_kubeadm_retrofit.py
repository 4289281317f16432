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

Then local-nginx and haproxy-keepalived, one compact chain each (apply, kill and cut of m1,
uninstall byte for byte: tests/support/kubeadm_checks.py), with controller-manager and scheduler
kept local as kubeadm made them; haproxy-keepalived's also joins a worker afterwards. The same
chain proves the three strategies with their balancer as a static pod:
tests/lab/install/test_static_pod_kubeadm.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
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
    apply_kill_cut_uninstall,
    connected_only_to,
    files,
    get,
    kube_proxy_pods,
    kubectl,
    lb_peer,
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
from wizard.lab import Lab, add_node, exec_in_node, remove_node
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

    def containers() -> dict[str, str]:
        text = kubectl(lab, "m2", "-n", "kube-system", "get", "pods", "-o", "json")
        found = {}
        for pod in json.loads(text)["items"]:
            name = pod["metadata"]["name"]
            statuses = pod["status"].get("containerStatuses") or [{}]
            if name.rsplit("-", 1)[0] in PODS.values():
                found[name] = statuses[0].get("containerID", "") if statuses[0].get("ready") else ""
        return found

    def every_one_ready() -> bool | dict[str, str]:  # after the cut, m1's may be restarting
        now = containers()
        return (len(now) == 2 * len(lab.masters) and all(now.values())) or now

    wait_for(every_one_ready, DEADLINE_S, "each master's controller-manager and scheduler Ready")
    before = containers()
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


# --- the other strategies: the same claims in one compact chain each --------------------------


@pytest.mark.parametrize("strategy", ["local-nginx", "haproxy-keepalived"])
def test_strategy_apply_kill_cut_uninstall(kubeadm_lab: Lab, strategy: str):  # noqa: F811
    """The other strategies, systemd install, ``[clients] repoint`` as the lab profile has it:
    apply leaves no client on one master, m1 killed then cut with kubectl, the leases and
    kube-proxy carrying on, uninstall byte for byte (tests/support/kubeadm_checks.py's chain,
    which tests/lab/install/test_static_pod_kubeadm.py runs for the balancer as a static pod).
    The local-haproxy chain above proves the rest in depth (the dry run's diffs, the JWS
    signature, kubeadm-config's one line, a stale patch refused, ``repoint_local`` and the
    manifests' restart, a hand-changed object stopping the uninstall)."""
    lb = build_plan(lab_profile(kubeadm_lab, strategy)).server_url

    def joined(lab: Lab) -> None:  # the VIP: a new node needs nothing of kubeha's
        a_node_joined_afterwards_uses_the_balancer(lab, lb)

    meanwhile = joined if strategy == "haproxy-keepalived" else None
    apply_kill_cut_uninstall(kubeadm_lab, lab_profile(kubeadm_lab, strategy), meanwhile=meanwhile)


def a_node_joined_afterwards_uses_the_balancer(lab: Lab, lb: str) -> None:
    """A new worker joined with the source's own ``kubeadm join``, its discovery still on m1's
    address (a join command written down before kubeha): its kubelet bootstraps through the
    server cluster-info now names and its kubelet.conf names it; its kube-proxy pod reads the
    ConfigMap's. The node is removed again (Node object and all)."""
    token = kubectl(lab, "m2", "-n", "kube-system", "get", "secret", "-o", "json")
    yes = base64.b64encode(b"true").decode()
    secrets = [  # the join token (init's --upload-certs token has no usages)
        i["data"]
        for i in json.loads(token)["items"]
        if i.get("type") == "bootstrap.kubernetes.io/token"
        and i["data"].get("usage-bootstrap-authentication") == yes
        and i["data"].get("usage-bootstrap-signing") == yes
    ]
    assert secrets, "no bootstrap token to join with"
    tid, tsecret = (base64.b64decode(secrets[0][k]).decode() for k in ("token-id", "token-secret"))
    ca_hash = lab.exec_in_node(
        "m1",
        ["sh", "-c", "openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt | "
         "openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"],
    ).stdout.strip()  # fmt: skip
    added = add_node(log=lambda line: print(f"[kubeadm retrofit] {line}"))
    name = added.name
    started = time.monotonic()
    try:
        join = exec_in_node(
            name,
            ["kubeadm", "join", M1.removeprefix("https://"), f"--token={tid}.{tsecret}",
             f"--discovery-token-ca-cert-hash=sha256:{ca_hash}",
             "--ignore-preflight-errors=FileExisting-crictl"],
            timeout=300,
        )  # fmt: skip
        assert join.returncode == 0, (join.stdout + join.stderr)[-1500:]
        print(f"[kubeadm retrofit] {name} joined in {time.monotonic() - started:.0f} s")
        conf = exec_in_node(name, ["cat", f"{KUBE}/kubelet.conf"]).stdout
        assert servers(conf) == [lb], conf
        boot = exec_in_node(name, ["cat", f"{KUBE}/bootstrap-kubelet.conf"])
        if boot.returncode == 0:  # kubeadm may have removed it after the bootstrap
            assert servers(boot.stdout) == [lb], boot.stdout

        def proxy_ready() -> bool | dict[str, tuple[str, bool]]:
            pods = kube_proxy_pods(lab)
            return (name in pods and pods[name][1]) or pods

        wait_for(proxy_ready, DEADLINE_S, f"{name}'s kube-proxy Ready")

        def only_through(program: str):
            def check() -> bool | str:
                proc = exec_in_node(name, ["ss", "-tnpH", "state", "established"])
                peers = [
                    line.split()[3]
                    for line in proc.stdout.splitlines()
                    if f'(("{program}",' in line and len(line.split()) > 3
                ]
                return (bool(peers) and set(peers) == {lb_peer(lb)}) or f"{peers}"

            return check

        for program in ("kubelet", "kube-proxy"):
            wait_for(only_through(program), 60, f"{name}'s {program} connected through {lb}")
    finally:
        admin = ["kubectl", f"--kubeconfig={KUBE}/admin.conf"]
        lab.exec_in_node(
            "m2", [*admin, "delete", "node", name, "--ignore-not-found", "--wait=false"]
        )
        remove_node(name, log=lambda line: print(f"[kubeadm retrofit] {line}"))
        # Its kube-proxy pod at once (the pod garbage collector takes about a minute to remove
        # the pods of a deleted node).
        lab.exec_in_node(
            "m2",
            [*admin, "-n", "kube-system", "delete", "pod", "-l", "k8s-app=kube-proxy",
             f"--field-selector=spec.nodeName={name}", "--force", "--grace-period=0"],
        )  # fmt: skip
    wait_for(all_ready(lab), DEADLINE_S, "kube-proxy on the usual nodes only")
