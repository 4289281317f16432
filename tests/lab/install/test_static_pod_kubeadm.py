"""The balancer as a static pod on the kubeadm lab (kubelet and containerd in every node, the lab's
haproxy, nginx and keepalived images built from the rootfs's Debian binaries:
wizard.lab.balancer_images), with the lab's ``lab-<strategy>-static-pod`` profiles
(``[balancer] run_as = "static-pod"``, ``[clients] repoint`` as the kubeadm lab has it), for
local-haproxy, local-nginx and haproxy-keepalived, one chain each on the bring-up shared with the
other kubeadm modules (tests/support/kubeadm_fixture.py):

- apply: no balancer unit is written; kubelet runs kubeha's manifests (each mirror pod Running
  in the API, the listener's process in kubelet's pod cgroup); verify passes; no client of any
  kind is left on one master (kubeadm's kubeconfigs, kube-proxy's ConfigMap and its new pods
  connected through the balancer, cluster-info, kubeadm-config);
- m1's kube-apiserver killed (SIGKILL: kubelet starts it again), then m1 cut off the network:
  kubectl (on m1 itself while its apiserver is dead, and on every node), the leader leases and
  kube-proxy (a new Service programmed on every worker) carry on through the static pods;
- haproxy-keepalived's chain joins a worker afterwards with kubeadm's own ``join`` on m1's
  address (a join command written down before kubeha): its kubelet and kube-proxy use the VIP;
- uninstall: the manifests go, kubelet stops the pods, and every node is byte for byte as
  before: the manifests folder (hidden files too, and the folder itself on the workers, where
  kubeadm's join made none), the config folders, /etc/hosts, the units, kubeha's leftovers,
  kubeadm's kubeconfigs and objects, kube-proxy rolled back.

The chain is tests/support/kubeadm_checks.py's; tests/lab/retrofit/test_kubeadm_retrofit.py proves
the systemd install (local-haproxy) in depth. This module adds what is the static pods' own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.kubeadm_checks import (
    DEADLINE_S,
    a_node_joined_afterwards_uses_the_balancer,
    apply_kill_cut_uninstall,
    wait_for,
)
from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401
from wizard.engine.verify import run_verify
from wizard.lab import Lab
from wizard.lab.profiles import build_profile
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan

pytestmark = pytest.mark.lab

STRATEGIES = ("local-haproxy", "local-nginx", "haproxy-keepalived")
PORT = 8443  # every lab profile's balancer port
# Every file kubeha may touch or leave, hidden ones included, with its hash; the units.
FOLDERS = (
    "/etc/kubernetes/manifests",
    "/etc/kube-haproxy",
    "/etc/kube-nginx",
    "/etc/haproxy",
    "/etc/keepalived",
    "/run/kube-haproxy",
    "/usr/local/lib/kubeha",
)
# The manifests folder is given back as it was, itself included (kubeha makes it on a worker
# kubeadm left without one); an empty folder of the others is not told from none (kubeha's
# uninstall leaves the folders it made for its files, whatever runs the balancer).
WATCH = f"""
[ -d /etc/kubernetes/manifests ] || echo "/etc/kubernetes/manifests absent"
for d in {" ".join(FOLDERS)}; do
  [ -d "$d" ] || continue
  for f in "$d"/* "$d"/.[!.]*; do [ -f "$f" ] && echo "$f $(sha256sum < "$f" | cut -c1-16)"; done
done
echo "hosts $(sha256sum < /etc/hosts | cut -c1-16)"
ls /etc/systemd/system | grep -e haproxy -e nginx -e keepalived -e kubeha || true
"""
BEFORE: dict[str, Any] = {}


def watched(lab: Lab) -> dict[str, str]:
    return {n.name: lab.exec_in_node(n.name, ["sh", "-c", WATCH]).stdout for n in lab.nodes}


def listener_pid(lab: Lab, node: str) -> str:
    """The pid of what listens on TCP ``PORT`` on ``node``, or ""."""
    out = lab.exec_in_node(node, ["ss", "-ltnpH", "sport", "=", f":{PORT}"]).stdout
    for part in out.replace(",", " ").split():
        if part.startswith("pid="):
            return part.removeprefix("pid=")
    return ""


def mirror_pods(lab: Lab) -> dict[tuple[str, str], str]:
    """(node, pod name) -> phase of kubeha's mirror pods (kubelet reports its static pods)."""
    argv = [
        "kubectl",
        "--kubeconfig=/etc/kubernetes/admin.conf",
        "--request-timeout=20s",
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/managed-by=kubeha",
        "-o",
        "json",
    ]
    proc = lab.exec_in_node("m2", argv, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {
        (p["spec"]["nodeName"], p["metadata"]["labels"]["app.kubernetes.io/name"]): p["status"].get(
            "phase", ""
        )
        for p in json.loads(proc.stdout)["items"]
    }


def kubelet_runs_the_pods(lab: Lab, profile: Profile) -> None:
    """No balancer unit written; kubelet runs kubeha's manifests (mirror pods Running, the
    listener in kubelet's pod cgroup); verify passes."""
    plan = build_plan(profile)
    expected = set()
    for n in lab.nodes:
        pods = plan.for_node(n.name).static_pods
        files = lab.exec_in_node(n.name, ["sh", "-c", WATCH]).stdout
        units = ("kube-haproxy.service", "kube-nginx.service", "keepalived.service")
        for unit in units:  # no balancer unit written
            assert (unit in files) == (unit in BEFORE["files"][n.name]), (n.name, unit)
        for manifest in pods:
            assert manifest in files, (n.name, manifest)
            expected.add((n.name, manifest.rsplit("/", 1)[1].removesuffix(".yaml")))
        if pods:
            pid = listener_pid(lab, n.name)
            assert pid, n.name
            cgroup = lab.exec_in_node(n.name, ["cat", f"/proc/{pid}/cgroup"]).stdout
            assert "kubepods" in cgroup, (n.name, cgroup)  # kubelet's pod, not a unit
    assert expected

    def running() -> bool | dict[tuple[str, str], str]:
        pods = mirror_pods(lab)
        return (set(pods) == expected and set(pods.values()) == {"Running"}) or pods

    wait_for(running, DEADLINE_S, "kubeha's pods Running")
    report = run_verify(profile)
    assert report.ok, report


def pods_stopped_every_folder_back(lab: Lab, profile: Profile) -> None:
    """The manifests gone: kubelet stops the pods; every watched folder as before."""
    plan = build_plan(profile)
    for n in lab.nodes:
        if plan.for_node(n.name).static_pods:
            wait_for(
                lambda node=n.name: listener_pid(lab, node) == "" or "the balancer still listens",
                DEADLINE_S,
                f"kubeha's pods stopped on {n.name}",
            )
    after = watched(lab)
    for n in lab.nodes:  # line by line, for a readable failure
        assert after[n.name].splitlines() == BEFORE["files"][n.name].splitlines(), n.name


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_static_pod_apply_kill_cut_uninstall(kubeadm_lab: Lab, strategy: str):  # noqa: F811
    made = profile_from_dict(build_profile(kubeadm_lab.state, strategy, static_pod=True)).profile
    assert made is not None and made.clients.repoint  # the kubeadm lab profile's
    assert any(n.static_pods for n in build_plan(made).nodes)  # kubelet runs the balancer
    BEFORE["files"] = watched(kubeadm_lab)
    lb = build_plan(made).server_url

    def joined(lab: Lab) -> None:  # the VIP: a new node needs nothing of kubeha's
        a_node_joined_afterwards_uses_the_balancer(lab, lb)

    apply_kill_cut_uninstall(
        kubeadm_lab,
        made,
        applied=lambda lab: kubelet_runs_the_pods(lab, made),
        meanwhile=joined if strategy == "haproxy-keepalived" else None,
        given_back=lambda lab: pods_stopped_every_folder_back(lab, made),
    )
