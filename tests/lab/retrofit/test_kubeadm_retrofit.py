"""Make a kubeadm cluster HA, on the kubeadm lab (``lab up --control-plane kubeadm``: kubelet,
containerd and kubeadm's static pods, kube-proxy as a DaemonSet), with the lab's local-haproxy
profile (systemd install, ``[clients] repoint = true``: kubeadm's kubeconfigs and objects).

In order, on one bring-up shared with tests/lab/environment/test_kubeadm_lab.py
(tests/support/kubeadm_fixture.py):

- apply: every node verifies; a worker's kubelet.conf and every admin.conf name the balancer,
  kubeadm's local kubeconfigs (controller-manager.conf, scheduler.conf, a master's kubelet.conf
  on its own apiserver) stay local; kube-proxy's ConfigMap names the balancer and its pods are
  new and Ready, connected through the worker's own balancer; cluster-info names the balancer
  with a bootstrap signature that verifies; kubeadm-config's controlPlaneEndpoint changed and
  nothing else in it.
- m1 cut off the network: a Service made through m2 is programmed by kube-proxy on every
  worker; kubectl with m2's admin.conf works.
- ``repoint_local = true`` applied over it: the local kubeconfigs repointed, and kubelet
  restarted their static pods when kubeha moved each manifest out and back (new containers),
  every manifest byte for byte as it was.
- uninstall: every file and every object back byte for byte, kube-proxy rolled back and Ready.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from typing import Any

import pytest

from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401
from tests.support.labkit import Recorder, lab_profile, snapshot, uninstall
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions, RunSummary
from wizard.lab import Lab
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.retrofit import api_objects

pytestmark = pytest.mark.lab

STRATEGY = "local-haproxy"
KUBE = "/etc/kubernetes"
KUBECONFIGS = ("kubelet.conf", "admin.conf", "controller-manager.conf", "scheduler.conf")
LOCAL = ("controller-manager.conf", "scheduler.conf")  # kubeadm's, on each master's own
PODS = {"controller-manager.conf": "kube-controller-manager", "scheduler.conf": "kube-scheduler"}
M1 = "https://10.77.0.11:6443"
DEADLINE_S = 240  # the slowest wait here: kube-proxy's rolling restart on a loaded machine
# The run's own deadline: a static pod's restart through its manifest, each client's check.
VERIFY_S = 90.0
PROBE_IP = "10.254.77.77"  # a Service made while m1 is cut (the lab's service range)
PROBE = f"""apiVersion: v1
kind: Service
metadata:
  name: kubeha-probe
  namespace: default
spec:
  clusterIP: {PROBE_IP}
  ports:
  - port: 80
    targetPort: 6443
---
apiVersion: v1
kind: Endpoints
metadata:
  name: kubeha-probe
  namespace: default
subsets:
- addresses:
  - ip: 10.77.0.12
  ports:
  - port: 6443
"""

# What the lab held before kubeha (captured once, compared after the uninstall), and what the
# apply made (compared by the later steps).
BEFORE: dict[str, Any] = {}
APPLIED: dict[str, Any] = {}


def kubectl(lab: Lab, via: str, *args: str, stdin: str = "") -> str:
    """kubectl with kubeadm's admin.conf on ``via``; its output (asserted to succeed)."""
    argv = ["kubectl", f"--kubeconfig={KUBE}/admin.conf", "--request-timeout=20s", *args]
    if stdin:
        script = " ".join(f"'{a}'" for a in argv) + " <<'EOF'\n" + stdin + "EOF\n"
        proc = lab.exec_in_node(via, ["sh", "-c", script], timeout=60)
    else:
        proc = lab.exec_in_node(via, argv, timeout=60)
    assert proc.returncode == 0, (via, args, proc.stderr)
    return proc.stdout


def get(lab: Lab, ref: api_objects.ObjectRef, via: str = "m2") -> dict[str, Any]:
    text = kubectl(lab, via, "get", ref.resource, ref.name, "-n", ref.namespace, "-o", "json")
    return json.loads(text)


def objects(lab: Lab, via: str = "m2") -> dict[str, Any]:
    """What kubeha may change: each ConfigMap's data, the DaemonSet's pod template."""
    found: dict[str, Any] = {ref.title: get(lab, ref, via)["data"] for ref in api_objects.OBJECTS}
    found["template"] = get(lab, api_objects.KUBE_PROXY_DAEMONSET, via)["spec"]["template"]
    return found


def files(lab: Lab) -> dict[str, dict[str, str]]:
    """node -> path -> text: kubeadm's kubeconfigs, its manifests, /etc/hosts."""
    found: dict[str, dict[str, str]] = {}
    script = (
        f"for f in {' '.join(f'{KUBE}/{c}' for c in KUBECONFIGS)} {KUBE}/manifests/*.yaml "
        '/etc/hosts; do [ -f "$f" ] && printf "%s %s\\n" "$f" "$(base64 -w0 "$f")"; done; true'
    )
    for n in lab.nodes:
        proc = lab.exec_in_node(n.name, ["sh", "-c", script])
        assert proc.returncode == 0, proc.stderr
        found[n.name] = {
            path: base64.b64decode(data).decode()
            for path, data in (line.split(" ", 1) for line in proc.stdout.splitlines())
        }
    return found


def servers(text: str) -> list[str]:
    return [line.split()[-1] for line in text.splitlines() if line.strip().startswith("server:")]


def kube_proxy_pods(lab: Lab, via: str = "m2") -> dict[str, tuple[str, bool]]:
    """node -> (pod UID, Ready) of each kube-proxy pod."""
    text = kubectl(
        lab, via, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy", "-o", "json"
    )
    found = {}
    for pod in json.loads(text)["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = pod["status"].get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        found[pod["spec"].get("nodeName", "")] = (pod["metadata"]["uid"], ready)
    return found


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(2)
    raise AssertionError(f"{what}: not within {seconds} s: {last}")


def all_ready(lab: Lab, not_uids: frozenset[str] = frozenset(), via: str = "m2"):
    def check() -> bool | dict[str, tuple[str, bool]]:
        pods = kube_proxy_pods(lab, via)
        fresh = all(uid not in not_uids and ready for uid, ready in pods.values())
        return (set(pods) == {n.name for n in lab.nodes} and fresh) or pods

    return check


def signed(lab: Lab, via: str = "m2") -> bool | str:
    """cluster-info's every bootstrap signature verifies for its kubeconfig."""
    data = get(lab, api_objects.CLUSTER_INFO, via)["data"]
    keys = api_objects.jws_keys(data)
    if not keys:
        return "no signature"
    for token_id, signature in keys.items():
        secret = kubectl(
            lab,
            via,
            "-n",
            "kube-system",
            "get",
            "secret",
            f"bootstrap-token-{token_id}",
            "-o",
            "jsonpath={.data.token-secret}",
        )
        value = base64.b64decode(secret).decode()
        if not api_objects.jws_valid(signature, data["kubeconfig"], token_id, value):
            return f"{api_objects.JWS_PREFIX}{token_id} does not verify"
    return True


def connections(lab: Lab, node: str, program: str) -> list[str]:
    """The peers of ``program``'s established TCP connections on ``node``."""
    proc = lab.exec_in_node(node, ["ss", "-tnpH", "state", "established"])
    assert proc.returncode == 0, proc.stderr
    return [
        line.split()[3]
        for line in proc.stdout.splitlines()
        if f'(("{program}",' in line and len(line.split()) > 3
    ]


def connected_only_to(lab: Lab, node: str, program: str, peer: str) -> None:
    """``program`` on ``node`` has connections, every one to ``peer`` (waited on: a client
    just started may not have connected yet)."""

    def check() -> bool | list[str]:
        peers = connections(lab, node, program)
        return (bool(peers) and set(peers) == {peer}) or peers

    wait_for(check, 60, f"{node}: {program} connected only to {peer}")
    print(f"[kubeadm retrofit] {node} {program} connected to {connections(lab, node, program)}")


def apply(profile: Profile) -> tuple[RunSummary, Recorder]:
    recorder = Recorder()
    started, clock = time.monotonic(), time.time()
    summary = run_apply(build_plan(profile), ApplyOptions(verify_timeout=VERIFY_S), recorder)
    print(f"[kubeadm retrofit] apply in {time.monotonic() - started:.0f} s")
    for e in recorder.events:  # where the time goes: each long step, and the objects' step
        if (e.duration is not None and e.duration >= 5) or e.phase == "objects":
            took = f" ({e.duration:.0f} s)" if e.duration is not None else ""
            at = f"{e.time - clock:.0f} s: {e.node or '-'} {e.phase} {e.status.value}"
            print(f"[kubeadm retrofit]   {at} {e.message}{took}")
    return summary, recorder


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


def test_m1_cut_kube_proxy_and_kubectl_carry_on(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    assert APPLIED, "the apply did not pass"
    lab.cut("m1")
    cut = time.monotonic()
    try:
        kubectl(lab, "m2", "apply", "-f", "-", stdin=PROBE)  # through m2's own balancer
        for w in lab.workers:

            def programmed(node: str = w.name) -> bool | str:
                rules = lab.exec_in_node(node, ["iptables-save", "-t", "nat"]).stdout
                return PROBE_IP in rules or "no rule yet"

            wait_for(programmed, DEADLINE_S, f"the Service on {w.name}'s kube-proxy")
            print(
                f"[kubeadm retrofit] {w.name}: programmed {time.monotonic() - cut:.0f} s into the cut"
            )
        nodes = kubectl(lab, "m2", "get", "nodes", "-o", "name")
        assert "node/w1" in nodes
    finally:
        lab.restore("m1")
    kubectl(lab, "m2", "delete", "-f", "-", "--ignore-not-found", stdin=PROBE)

    # m1 back: its apiserver serves again (its etcd member caught up) before what follows.
    def m1_ready() -> bool | str:
        argv = ["curl", "-sk", "-m", "5", "https://10.77.0.11:6443/readyz"]
        return lab.exec_in_node("m1", argv).stdout.strip() == "ok" or "not ready"

    wait_for(m1_ready, DEADLINE_S, "m1's apiserver after the restore")
    wait_for(all_ready(lab), DEADLINE_S, "every kube-proxy pod Ready after the restore")


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


def test_uninstall_gives_every_file_and_object_back(kubeadm_lab: Lab, profile: Profile):  # noqa: F811
    lab = kubeadm_lab
    local = dataclasses.replace(
        profile, clients=dataclasses.replace(profile.clients, repoint_local=True)
    )
    uids = {uid for uid, _ in kube_proxy_pods(lab).values()}
    summary = uninstall(local)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert files(lab) == BEFORE["files"]
    assert snapshot(lab) == BEFORE["snapshot"]
    assert objects(lab) == BEFORE["objects"]
    wait_for(lambda: signed(lab), DEADLINE_S, "the given-back cluster-info's signature")
    wait_for(all_ready(lab, frozenset(uids)), DEADLINE_S, "kube-proxy rolled back, every pod Ready")
    for w in lab.workers:
        connected_only_to(lab, w.name, "kube-proxy", M1.removeprefix("https://"))
