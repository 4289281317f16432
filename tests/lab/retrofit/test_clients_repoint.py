"""Make an existing cluster HA, on the lab's real control plane (every client starts on m1),
once per strategy (local-nginx, local-haproxy, haproxy-keepalived): ``[clients] repoint = true``
repoints every kubeconfig to the load balancer (the plan's client endpoint: the node's own
listener, or the VIP) after the certificate preflight, restarts each owner and checks it; with
m1's apiserver killed, or m1 cut off the network, every other node's kubectl works through its
load balancer, the leader leases keep being renewed and kube-proxy's watches still deliver (a
Service made after the fault is programmed on every worker); uninstall gives back every kubeconfig byte for byte. A load
balancer host name that no master's certificate names fails the preflight before any node
changes; /etc/hosts (the API host name's line) comes back byte for byte too.

The module fixture (the pattern of test_real_control_plane.py) turns the session's lab real and
gives the stand-in back at the end.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from tests.lab.environment.test_real_control_plane import kubectl, real_lab, wait_for  # noqa: F401
from tests.support.labkit import STRATEGIES, apply, lab_profile, states, uninstall, with_section
from wizard.lab import Lab
from wizard.lab.control_plane import CLIENT_KUBECONFIGS as KUBECONFIGS
from wizard.profile import Clients, Profile
from wizard.render import build_plan

pytestmark = pytest.mark.lab

# The section of each strategy whose API host name can be one no certificate names.
UNCOVERED = {"local-nginx": "local_nginx", "local-haproxy": "local_haproxy"}
M1 = "https://10.77.0.11:6443"
UNITS = ("kube-controller-manager.service", "kube-scheduler.service", "kube-proxy.service")
BEFORE: dict[str, dict[str, str]] = {}  # node -> path -> text, as the lab made them
HOSTS: dict[str, str] = {}  # node -> /etc/hosts, as the lab made it


def read_kubeconfigs(lab: Lab) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for n in lab.nodes:
        for item in KUBECONFIGS:
            proc = lab.exec_in_node(n.name, ["cat", item.path])
            if proc.returncode == 0:
                found.setdefault(n.name, {})[item.path] = proc.stdout
    return found


def started_at(lab: Lab, node: str, unit: str) -> str:
    argv = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit]
    return lab.exec_in_node(node, argv).stdout.strip()


def leases(lab: Lab, via: str) -> dict[str, tuple[str, str]] | None:
    proc = kubectl(lab, via, "get", "lease", "-n", "kube-system", "-o", "json")
    if proc.returncode != 0:
        return None
    rows = {
        i["metadata"]["name"]: (i["spec"].get("holderIdentity"), i["spec"].get("renewTime"))
        for i in json.loads(proc.stdout)["items"]
    }
    return {k: v for k, v in rows.items() if k in ("kube-controller-manager", "kube-scheduler")}


def lb_url(profile: Profile) -> str:
    """The server every repointed kubeconfig names: the plan's client endpoint."""
    url = build_plan(profile).server_url
    assert url.startswith("https://"), url
    return url


@pytest.fixture(scope="module", params=STRATEGIES)
def base(real_lab, request):  # noqa: F811
    if not BEFORE:
        BEFORE.update(read_kubeconfigs(real_lab))
        HOSTS.update(
            {
                n.name: real_lab.exec_in_node(n.name, ["cat", "/etc/hosts"]).stdout
                for n in real_lab.nodes
            }
        )
    assert read_kubeconfigs(real_lab) == BEFORE  # the last strategy gave every file back
    profile = lab_profile(real_lab, request.param)
    profile = dataclasses.replace(profile, clients=Clients(repoint=True, kubeconfigs=KUBECONFIGS))
    yield profile
    uninstall(profile)  # clients pointed back first, whatever a test left


def test_a_name_no_certificate_covers_fails_before_any_change(real_lab, base):  # noqa: F811
    if base.strategy not in UNCOVERED:
        pytest.skip("the VIP is the only address clients dial: covered by the other strategies")
    bad = with_section(base, UNCOVERED[base.strategy], apiserver_hostname="api.not-covered.example")
    summary, recorder = apply(bad)
    assert not summary.ok
    assert set(states(summary).values()) == {"untouched"}
    failed = [e for e in recorder.events if e.phase == "preflight" and e.status == "failed"]
    assert failed, recorder.text()
    for master in ("m1", "m2", "m3"):
        assert (
            f"master {master}: its serving certificate does not cover 'api.not-covered.example'"
            in failed[0].message
        )
    assert read_kubeconfigs(real_lab) == BEFORE
    for n in real_lab.nodes:
        for unit in ("kube-nginx", "kube-haproxy"):
            proc = real_lab.exec_in_node(n.name, ["systemctl", "is-active", unit])
            assert proc.stdout.strip() != "active", (n.name, unit)


def test_apply_repoints_every_client_to_the_load_balancer(real_lab, base):  # noqa: F811
    before = {(n.name, u): started_at(real_lab, n.name, u) for n in real_lab.nodes for u in UNITS}
    summary, recorder = apply(base)
    assert summary.ok, recorder.text()
    assert set(states(summary).values()) == {"verified"}
    after = read_kubeconfigs(real_lab)
    lb = lb_url(base)
    for node, files in BEFORE.items():
        for path, text in files.items():
            assert after[node][path] == text.replace(f"server: {M1}", f"server: {lb}"), path
            assert after[node][path] != text
    for (node, unit), when in before.items():
        if when and when != "0":  # the unit runs on this node: restarted, and active
            assert started_at(real_lab, node, unit) != when, (node, unit)
            state = real_lab.exec_in_node(node, ["systemctl", "is-active", unit]).stdout
            assert state.strip() == "active", (node, unit)
    for n in real_lab.nodes:
        for path in BEFORE[n.name]:
            argv = ["--kubeconfig", path, "get", "--raw", "/readyz"]
            proc = kubectl(real_lab, n.name, *argv)
            assert proc.returncode == 0 and proc.stdout.strip() == "ok", (n.name, path, proc.stderr)


def test_reapply_changes_nothing(real_lab, base):  # noqa: F811
    summary, recorder = apply(base)
    assert summary.ok, recorder.text()
    assert set(states(summary).values()) == {"unchanged"}, recorder.text()


def served_through(lab: Lab, node: str, lb: str) -> bool | str:
    """kubectl on the node answers /readyz, its kubeconfig naming the load balancer."""
    argv = ["config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"]
    server = kubectl(lab, node, *argv).stdout.strip()
    if server != lb:
        return f"{node}'s kubeconfig names {server!r}"
    proc = kubectl(lab, node, "--request-timeout=5s", "get", "--raw", "/readyz")
    return (proc.returncode == 0 and proc.stdout.strip() == "ok") or proc.stderr[-200:]


def programmed_everywhere(lab: Lab, cluster_ip: str) -> bool | str:
    """kube-proxy on every worker wrote rules for the Service (its watch delivered it)."""
    for w in lab.workers:
        rules = lab.exec_in_node(w.name, ["iptables-save"]).stdout
        if f"{cluster_ip}/32" not in rules:
            return f"no rule for {cluster_ip} on {w.name} yet"
    return True


@pytest.mark.parametrize("fault", ["kill", "cut"])
def test_clients_survive_m1_dying(real_lab, base, fault):  # noqa: F811
    """m1's apiserver killed, or m1 cut off the network (its etcd member too: the survivors
    elect an etcd leader first, seconds); every other node's clients go on through the LB."""
    lb = lb_url(base)
    probe = f"kubeha-probe-{base.strategy}"
    wait_for(lambda: leases(real_lab, "m2") is not None or "no leases", 60, "the leases")
    first = leases(real_lab, "m2")
    if fault == "kill":
        real_lab.kill_apiserver("m1")
    else:
        real_lab.cut("m1")
    killed = time.monotonic()
    try:
        # A VIP that moves (its holder died) takes ~3 s; a cut etcd member up to ~10 s more.
        for n in real_lab.nodes:
            if fault == "cut" and n.name == "m1":
                continue  # off the network: nothing of it can be asked
            wait_for(lambda name=n.name: served_through(real_lab, name, lb), 60, n.name)
        print(f"{base.strategy}: kubectl on every node {time.monotonic() - killed:.1f} s after")

        def renewed():
            now = leases(real_lab, "m2")
            if not now or len(now) != 2:
                return f"leases: {now}"
            stale = [k for k in now if first and now[k][1] == first.get(k, ("", ""))[1]]
            return not stale or f"not renewed yet: {stale}"

        # A lease held on a cut m1 moves only after its 15 s duration.
        wait_for(renewed, 60, f"both leader leases renewed after the {fault} of m1")
        print(f"{base.strategy}: leases renewed {time.monotonic() - killed:.1f} s after")
        # kube-proxy's watches go through the load balancer too: a Service made now is
        # programmed on every worker only if they came back.
        kubectl(real_lab, "m2", "delete", "service", probe, "--ignore-not-found", "--wait=false")

        def created() -> bool | str:
            # After a cut the surviving apiservers take writes again once etcd has a leader and
            # their etcd clients left the cut member (the bench's "writes' own gap": 5-10 s);
            # a controller retries, so does this.
            made = kubectl(real_lab, "m2", "create", "service", "clusterip", probe, "--tcp=80:80")
            return made.returncode == 0 or "AlreadyExists" in made.stderr or made.stderr.strip()

        wait_for(created, 60, "a Service created through m2's load balancer")
        argv = ["get", "service", probe, "-o", "jsonpath={.spec.clusterIP}"]
        found: list[str] = []

        def read_back() -> bool | str:  # a read may time out too while etcd settles
            got = kubectl(real_lab, "m2", *argv)
            found[:] = [got.stdout.strip()]
            return got.stdout.strip().startswith("10.254.") or got.stderr.strip() or "no IP yet"

        wait_for(read_back, 60, "the Service's cluster IP")
        cluster_ip = found[0]
        wait_for(lambda: programmed_everywhere(real_lab, cluster_ip), 60, "kube-proxy's rules")
        print(f"{base.strategy}: Service programmed {time.monotonic() - killed:.1f} s after")
        for w in real_lab.workers:
            health = real_lab.exec_in_node(
                w.name, ["curl", "-fsS", "-m", "3", "http://127.0.0.1:10256/healthz"]
            )
            assert health.returncode == 0, (w.name, health.stdout, health.stderr)
    finally:
        kubectl(real_lab, "m2", "delete", "service", probe, "--ignore-not-found", "--wait=false")
        real_lab.restore("m1")
    wait_for(
        lambda: (
            kubectl(
                real_lab,
                "w1",
                "--kubeconfig",
                "/etc/kubernetes/admin.kubeconfig",
                "--server",
                M1,
                "get",
                "--raw",
                "/readyz",
            ).stdout.strip()
            == "ok"
        ),
        60,
        "m1 ready again",
    )


def test_uninstall_points_every_client_back_byte_for_byte(real_lab, base):  # noqa: F811
    summary = uninstall(base)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert read_kubeconfigs(real_lab) == BEFORE
    for n in real_lab.nodes:
        hosts = real_lab.exec_in_node(n.name, ["cat", "/etc/hosts"]).stdout
        assert hosts == HOSTS[n.name], n.name
        left = real_lab.exec_in_node(
            n.name, ["sh", "-c", "ls /etc/kubernetes /root/.kube | grep kubeha- || true"]
        )
        assert left.stdout.strip() == "", (n.name, left.stdout)
        proc = kubectl(real_lab, n.name, "get", "--raw", "/readyz")
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", (n.name, proc.stderr)
