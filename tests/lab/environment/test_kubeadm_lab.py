"""The kubeadm lab (``kubeha lab up --control-plane kubeadm``): kubelet, containerd and runc on
every nspawn node, the control plane made by the source's own ``kubeadm init`` and ``join``.

One bring-up (tests/support/kubeadm_fixture.py: shared with the other modules on the kubeadm
lab, the session's stand-in lab given back after them, same shape) proves the layout kubeadm
makes: static pods in /etc/kubernetes/manifests, kubeconfigs in /etc/kubernetes, stacked etcd,
kube-proxy as a DaemonSet from its ConfigMap with a Ready pod on every node,
kube-public/cluster-info and kube-system/kubeadm-config, and kubelet's own restart of a static
pod when its manifest changes. It needs the cached build with the kubeadm step
(``python -m wizard.lab.kube_build --kubeadm``; scripts/test runs it)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401
from wizard.lab import Lab

pytestmark = pytest.mark.lab

KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
RESTART_DEADLINE_S = 180  # kubelet notices a manifest change within its sync period (~20 s)


def kubectl_json(lab: Lab, *args: str) -> dict:
    proc = lab.exec_in_node("m1", [*KUBECTL, *args, "-o", "json"], timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_master_runs_kubeadms_static_pods_and_kubeconfigs(kubeadm_lab: Lab):  # noqa: F811
    for master in kubeadm_lab.masters:
        listing = kubeadm_lab.exec_in_node(
            master.name, ["ls", "/etc/kubernetes", "/etc/kubernetes/manifests"]
        ).stdout.split()
        for name in STATIC_PODS:
            assert f"{name}.yaml" in listing, (master.name, listing)
        for conf in ("admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf"):
            assert conf in listing, (master.name, listing)
    pods = kubectl_json(kubeadm_lab, "-n", "kube-system", "get", "pods")["items"]
    mirror = {
        (p["metadata"]["name"], p["status"].get("phase"))
        for p in pods
        if "kubernetes.io/config.mirror" in p["metadata"].get("annotations", {})
    }
    for master in kubeadm_lab.masters:
        for name in STATIC_PODS:
            assert (f"{name}-{master.name}", "Running") in mirror
    # Stacked etcd: one member per master, each the master's own static pod.
    etcd = kubeadm_lab.exec_in_node(
        "m1",
        [
            "sh",
            "-c",
            "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 "
            "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/peer.crt "
            "--key=/etc/kubernetes/pki/etcd/peer.key member list",
        ],
    )
    if etcd.returncode == 127:  # no etcdctl on the node: ask the etcd pod's own
        etcd = kubeadm_lab.exec_in_node(
            "m1",
            [
                *KUBECTL,
                "-n",
                "kube-system",
                "exec",
                "etcd-m1",
                "--",
                "etcdctl",
                "--endpoints=https://127.0.0.1:2379",
                "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
                "--cert=/etc/kubernetes/pki/etcd/peer.crt",
                "--key=/etc/kubernetes/pki/etcd/peer.key",
                "member",
                "list",
            ],
        )
    assert etcd.returncode == 0, etcd.stderr
    assert len(etcd.stdout.strip().splitlines()) == len(kubeadm_lab.masters)


def test_every_node_is_ready_with_the_cni_bridge(kubeadm_lab: Lab):  # noqa: F811
    deadline = time.monotonic() + RESTART_DEADLINE_S
    while True:
        nodes = kubectl_json(kubeadm_lab, "get", "nodes")["items"]
        ready = {
            n["metadata"]["name"]
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]
            )
        }
        if ready == {n.name for n in kubeadm_lab.nodes} or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert ready == {n.name for n in kubeadm_lab.nodes}
    for n in nodes:  # kubelet's own runtime and the node's address on the lab bridge
        assert n["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
        addresses = {a["address"] for a in n["status"]["addresses"]}
        assert kubeadm_lab.node(n["metadata"]["name"]).address in addresses


def test_kube_proxy_is_a_daemonset_from_its_configmap_ready_on_every_node(kubeadm_lab: Lab):  # noqa: F811
    ds = kubectl_json(kubeadm_lab, "-n", "kube-system", "get", "daemonset", "kube-proxy")
    assert ds["status"]["numberReady"] == len(kubeadm_lab.nodes)
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert volumes["kube-proxy"]["configMap"]["name"] == "kube-proxy"
    cm = kubectl_json(kubeadm_lab, "-n", "kube-system", "get", "configmap", "kube-proxy")
    first = kubeadm_lab.masters[0].address
    assert f"server: https://{first}:6443" in cm["data"]["kubeconfig.conf"]
    pods = kubectl_json(
        kubeadm_lab, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy"
    )["items"]
    ready_on = {
        p["spec"]["nodeName"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
    }
    assert ready_on == {n.name for n in kubeadm_lab.nodes}
    # Its rules work: the kubernetes Service's IP answers on a worker through kube-proxy's DNAT.
    worker = (kubeadm_lab.workers or kubeadm_lab.masters)[-1].name
    version = kubeadm_lab.exec_in_node(
        worker, ["curl", "-sk", "-m", "10", "https://10.254.0.1:443/version"], timeout=30
    )
    assert '"gitVersion": "v1.20.2"' in version.stdout, version.stderr


def test_cluster_info_and_kubeadm_config_name_the_first_master(kubeadm_lab: Lab):  # noqa: F811
    first = kubeadm_lab.masters[0].address
    info = kubectl_json(kubeadm_lab, "-n", "kube-public", "get", "configmap", "cluster-info")
    assert f"server: https://{first}:6443" in info["data"]["kubeconfig"]
    assert any(k.startswith("jws-kubeconfig-") for k in info["data"])  # the bootstrap signer's
    config = kubectl_json(kubeadm_lab, "-n", "kube-system", "get", "configmap", "kubeadm-config")
    assert f"controlPlaneEndpoint: {first}:6443" in config["data"]["ClusterConfiguration"]


def test_kubelet_restarts_a_static_pod_when_its_manifest_changes(kubeadm_lab: Lab):  # noqa: F811
    node = kubeadm_lab.masters[0].name  # the first up: its scheduler is Ready soonest
    pod = f"kube-scheduler-{node}"

    def container_id(ready: bool = True) -> str:
        argv = [*KUBECTL, "-n", "kube-system", "get", "pod", pod, "-o", "json"]
        proc = kubeadm_lab.exec_in_node("m1", argv, timeout=60)
        if "NotFound" in proc.stderr:  # kubelet replaces the mirror pod of a changed manifest
            return ""
        assert proc.returncode == 0, proc.stderr
        status = json.loads(proc.stdout)["status"]
        states = status.get("containerStatuses") or [{}]
        return states[0].get("containerID", "") if states[0].get("ready") or not ready else ""

    deadline = time.monotonic() + RESTART_DEADLINE_S
    before = container_id()
    while not before and time.monotonic() < deadline:  # a master that just joined: not Ready yet
        time.sleep(2)
        before = container_id()
    assert before, f"{pod} was not Ready within {RESTART_DEADLINE_S} s"
    print(
        f"[kubeadm lab] {pod} Ready after {RESTART_DEADLINE_S - deadline + time.monotonic():.0f} s"
    )
    manifest = "/etc/kubernetes/manifests/kube-scheduler.yaml"
    # A change kubelet must act on: one more flag (a real edit, as an operator or kubeha makes).
    edit = kubeadm_lab.exec_in_node(
        node, ["sed", "-i", "s/- --bind-address=127.0.0.1/&\\n    - --v=1/", manifest]
    )
    assert edit.returncode == 0, edit.stderr
    edited = time.monotonic()
    deadline = edited + RESTART_DEADLINE_S
    after = before
    while time.monotonic() < deadline:
        after = container_id(ready=False)  # a new container: kubelet replaced the old one
        if after and after != before:
            break
        time.sleep(2)
    assert after and after != before, "kubelet did not restart the scheduler's static pod"
    print(f"[kubeadm lab] {pod} restarted {time.monotonic() - edited:.0f} s after the edit")
    spec = kubectl_json(kubeadm_lab, "-n", "kube-system", "get", "pod", pod)["spec"]
    assert "--v=1" in spec["containers"][0]["command"]
