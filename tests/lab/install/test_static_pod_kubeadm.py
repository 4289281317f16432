"""The balancer as a static pod on the kubeadm lab (kubelet and containerd in every node, the lab's
haproxy, nginx and keepalived images built from the rootfs's Debian binaries:
wizard.lab.balancer_images), with the lab's ``lab-<strategy>-static-pod`` profiles
(``[balancer] run_as = "static-pod"``), for local-haproxy, local-nginx and haproxy-keepalived.

For each, in order, on the bring-up shared with the other kubeadm modules
(tests/support/kubeadm_fixture.py):

- apply: no balancer unit is written; kubelet runs kubeha's manifests (each mirror pod Running
  in the API, the listener's process in kubelet's pod cgroup), and verify passes;
- m1 cut off the network: every other node's balancer still answers /readyz;
- uninstall: the manifests go, kubelet stops the pods, and every node is byte for byte as
  before: the manifests folder (hidden files too, and the folder itself on the workers, where
  kubeadm's join made none), the config folders, /etc/hosts, the units, kubeha's leftovers.

``[clients] repoint`` is off here (tests/lab/retrofit/test_kubeadm_retrofit.py proves it): this
module proves the static pods only, so it holds the lab about a minute per strategy.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401
from tests.support.labkit import Recorder, snapshot, uninstall
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions
from wizard.engine.verify import run_verify
from wizard.lab import Lab
from wizard.lab.profiles import build_profile
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan

pytestmark = pytest.mark.lab

STRATEGIES = ("local-haproxy", "local-nginx", "haproxy-keepalived")
DEADLINE_S = 120  # kubelet starting or stopping a pod on a loaded 2-core machine
VERIFY_S = 90.0
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
APPLIED: set[str] = set()


def watched(lab: Lab) -> dict[str, str]:
    return {n.name: lab.exec_in_node(n.name, ["sh", "-c", WATCH]).stdout for n in lab.nodes}


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(2)
    raise AssertionError(f"{what}: not within {seconds} s: {last}")


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


@pytest.fixture(scope="module", params=STRATEGIES)
def profile(kubeadm_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Profile]:  # noqa: F811
    data = build_profile(kubeadm_lab.state, request.param, static_pod=True)
    made = profile_from_dict(data).profile
    assert made is not None
    made = dataclasses.replace(made, clients=dataclasses.replace(made.clients, repoint=False))
    BEFORE["files"] = watched(kubeadm_lab)
    BEFORE["snapshot"] = snapshot(kubeadm_lab)
    yield made
    if kubeadm_lab.is_cut("m1"):
        kubeadm_lab.restore("m1")
    uninstall(made)


def test_apply_kubelet_runs_the_pods(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    plan = build_plan(profile)
    recorder = Recorder()
    started = time.monotonic()
    summary = run_apply(plan, ApplyOptions(verify_timeout=VERIFY_S), recorder)
    print(f"[static pod] {profile.strategy}: apply in {time.monotonic() - started:.0f} s")
    assert summary.ok, recorder.text()
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
    APPLIED.add(profile.strategy)


def test_m1_cut_every_balancer_still_answers(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    assert profile.strategy in APPLIED, "the apply did not pass"
    plan = build_plan(profile)
    lab.cut("m1")
    cut = time.monotonic()
    try:
        for n in lab.nodes:
            if n.name == "m1":
                continue
            url = plan.for_node(n.name).verify_url
            argv = ["curl", "-sk", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", url]

            def answers(node: str = n.name, argv: list[str] = argv) -> bool | str:
                return lab.exec_in_node(node, argv).stdout == "200" or "no answer"

            wait_for(answers, 30, f"{n.name}'s balancer during the cut")
            codes = [lab.exec_in_node(n.name, argv).stdout for _ in range(5)]
            assert codes == ["200"] * 5, (n.name, codes)
        took = time.monotonic() - cut
        print(f"[static pod] {profile.strategy}: every balancer answered {took:.1f} s into the cut")
    finally:
        lab.restore("m1")


def test_uninstall_gives_every_node_back_byte_for_byte(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    assert profile.strategy in APPLIED, "the apply did not pass"
    plan = build_plan(profile)
    summary = uninstall(profile)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for n in lab.nodes:  # the manifests gone: kubelet stops the pods
        if plan.for_node(n.name).static_pods:
            wait_for(
                lambda node=n.name: listener_pid(lab, node) == "" or "the balancer still listens",
                DEADLINE_S,
                f"kubeha's pods stopped on {n.name}",
            )
    after = watched(lab)
    for n in lab.nodes:  # line by line, for a readable failure
        assert after[n.name].splitlines() == BEFORE["files"][n.name].splitlines(), n.name
    assert snapshot(lab) == BEFORE["snapshot"]
