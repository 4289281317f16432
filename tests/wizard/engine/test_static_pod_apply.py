"""The balancer as a static pod through the engine's phases (in-memory nodes; the kubeadm lab
runs it with kubelet: tests/lab/install/test_static_pod_kubeadm.py): kubelet must run on the
node, a manifest kubeha did not write is never replaced, a failed verify gives the node back,
uninstall removes the manifest, and a switch between a unit and a pod in place is refused."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from wizard.backups import ABSENT, beside
from wizard.command_result import CommandResult
from wizard.engine import static_pod_folder
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.render import build_plan
from wizard.strategies.common import CUTTER_UNIT
from wizard.strategies.static_pod import Balancer

IMAGE = "registry.example/kube/haproxy:2.6"
MANIFEST = "/etc/kubernetes/manifests/kubeha-haproxy.yaml"
CONF = "/etc/kube-haproxy/haproxy.cfg"


def pod_profile(run_as: str = "static-pod"):
    profile = example_profile("local-haproxy")
    balancer = Balancer(run_as=run_as, image=IMAGE)
    return dataclasses.replace(profile, tables={**profile.tables, "balancer": balancer})


def cluster_for(profile, kubelet: bool = True) -> FakeCluster:
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    for node in cluster.nodes.values():
        node.originals = True
        node.kinds["/etc/kubernetes/manifests"] = "a folder"
        if kubelet:
            node.units["kubelet.service"] = (True, True)
    return cluster


def apply(profile, cluster, uninstall: bool = False, **options):
    events: list = []
    go = run_uninstall if uninstall else run_apply
    summary = go(
        build_plan(profile),
        ApplyOptions(**{"verify_timeout": 0.5, "static_pod_verify_timeout": 0.5, **options}),
        events.append,
        connector=cluster,
    )
    return summary, events


def test_apply_writes_the_manifest_and_no_unit_then_uninstall_gives_the_node_back():
    profile = pod_profile()
    cluster = cluster_for(profile)
    before = {name: dict(node.files) for name, node in cluster.nodes.items()}
    summary, _ = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    node = cluster.nodes["worker1"]
    assert MANIFEST in node.files and CONF in node.files
    assert beside(MANIFEST, ABSENT) in node.files  # kubeha's own: a re-apply may replace it
    # no unit of the balancer's: the session cutter's is the only one (it stays a unit)
    units = {
        p for p in node.files if p.startswith("/etc/systemd/system/") and p.endswith(".service")
    }
    assert units == {f"/etc/systemd/system/{CUTTER_UNIT}"}
    started = [
        line for line in node.log if line.startswith(("systemctl start", "systemctl restart"))
    ]
    assert started and all(CUTTER_UNIT in line for line in started), started
    result = next(n for n in summary.nodes if n.node == "worker1")
    assert f"kubelet runs {MANIFEST}" in result.actions
    again, _ = apply(profile, cluster)  # a re-apply: the port is the pod's own
    assert again.ok, [(n.node, n.reason) for n in again.nodes]
    summary, _ = apply(profile, cluster, uninstall=True)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for name, node in cluster.nodes.items():
        left = {p: t for p, t in node.files.items() if not p.startswith("/var/lib/kubeha/")}
        assert left == before[name]


def test_uninstall_waits_until_kubelet_has_stopped_the_pod_or_says_it_has_not():
    """``systemctl stop`` waits for a unit; a static pod's manifest leaving does not stop it at
    once (kubelet stops it at its next sync): the uninstall waits until its port is free, so
    the next apply does not find the port held, and names a pod kubelet never stopped."""
    profile = pod_profile()
    cluster = cluster_for(profile)
    summary, _ = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    port = build_plan(profile).for_node("worker1").ports[0]
    for node in cluster.nodes.values():
        node.listening = (f"{port[0]}:{port[1]}",)
        node.listed_times = 2  # kubelet stops it at the third look
    summary, _ = apply(profile, cluster, uninstall=True, static_pod_verify_timeout=30)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    node = cluster.nodes["worker1"]
    assert sum(line == "ss -Htln" for line in node.log) == 3
    result = next(n for n in summary.nodes if n.node == "worker1")
    assert "kubelet stopped kubeha's static pod(s): their ports are free" in result.actions

    for each in cluster.nodes.values():
        each.listening = ()  # the port free again: the next apply takes it
    summary, _ = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    node.listening, node.listed_times = (f"{port[0]}:{port[1]}",), None  # kubelet never stops it
    summary, _ = apply(profile, cluster, uninstall=True)
    result = next(n for n in summary.nodes if n.node == "worker1")
    assert result.state == NodeState.BROKEN, result
    assert "kubelet has not stopped kubeha's static pod(s) within 0.5 s" in result.reason
    assert f"{port[0]}:{port[1]} still listened on (is kubelet running?)" in result.reason


def test_dry_run_shows_the_manifest_and_changes_nothing():
    profile = pod_profile()
    cluster = cluster_for(profile)
    summary, _ = apply(profile, cluster, dry_run=True)
    assert summary.ok
    result = next(n for n in summary.nodes if n.node == "master1")
    assert MANIFEST in {d.path for d in result.diffs}
    assert any("kubelet would (re)start the static pod" in a for a in result.actions)
    assert all(MANIFEST not in node.files for node in cluster.nodes.values())


def test_no_kubelet_is_refused_naming_the_node():
    profile = pod_profile()
    cluster = cluster_for(profile, kubelet=False)
    summary, _ = apply(profile, cluster)
    assert not summary.ok
    result = next(n for n in summary.nodes if n.node == "worker2")
    assert "node worker2" in result.reason and "needs kubelet running" in result.reason
    assert all(MANIFEST not in node.files for node in cluster.nodes.values())


def test_a_manifest_kubeha_did_not_write_is_never_replaced():
    profile = pod_profile()
    cluster = cluster_for(profile)
    theirs = "apiVersion: v1\nkind: Pod\n# the operator's\n"
    cluster.nodes["master2"].files[MANIFEST] = theirs
    summary, _ = apply(profile, cluster)
    result = next(n for n in summary.nodes if n.node == "master2")
    assert result.state is NodeState.UNTOUCHED
    assert MANIFEST in result.reason and "kubeha did not write it" in result.reason
    assert cluster.nodes["master2"].files[MANIFEST] == theirs
    assert CONF not in cluster.nodes["master2"].files


def test_a_balancer_that_never_answers_is_rolled_back():
    profile = pod_profile()
    cluster = cluster_for(profile)
    cluster.nodes["worker1"].serving = False
    summary, _ = apply(profile, cluster)
    result = next(n for n in summary.nodes if n.node == "worker1")
    assert result.state is NodeState.ROLLED_BACK, result.reason
    assert MANIFEST not in cluster.nodes["worker1"].files  # kubelet stops the pod
    assert CONF not in cluster.nodes["worker1"].files


def test_switching_unit_and_pod_in_place_is_refused():
    unit_profile = pod_profile("systemd")
    cluster = cluster_for(unit_profile)
    summary, _ = apply(unit_profile, cluster)
    assert summary.ok
    summary, _ = apply(pod_profile(), cluster)
    result = next(n for n in summary.nodes if n.node == "master1")
    assert not result.ok and "switching [balancer] run_as to a static pod" in result.reason
    assert MANIFEST not in cluster.nodes["master1"].files


def test_a_folder_kubelet_does_not_read_is_refused():
    profile = pod_profile()
    cluster = cluster_for(profile)
    config = "kind: KubeletConfiguration\nstaticPodPath: /etc/kubelet.d\n"
    cluster.nodes["worker1"].files["/var/lib/kubelet/config.yaml"] = config
    del cluster.nodes["master3"].kinds["/etc/kubernetes/manifests"]
    summary, _ = apply(profile, cluster)
    reasons = {n.node: n.reason for n in summary.nodes}
    assert "kubelet runs the static pods of /etc/kubelet.d" in reasons["worker1"]
    assert "set [balancer] manifests_dir to /etc/kubelet.d" in reasons["worker1"]
    assert "/etc/kubernetes/manifests is not there" in reasons["master3"]
    for name in ("worker1", "master3"):  # refused before anything changed there
        assert MANIFEST not in cluster.nodes[name].files and CONF not in cluster.nodes[name].files


class LocalShell:
    """The node's shell here, for static_pod_folder's scripts (a real sh, real folders)."""

    def sh(self, script: str, timeout: float = 120) -> CommandResult:
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
        return CommandResult(("sh",), done.returncode, done.stdout, done.stderr)


def test_the_folder_kubeha_makes_goes_again_and_one_it_found_stays(tmp_path):
    node = LocalShell()
    made = tmp_path / "manifests"
    manifest = f"{made}/kubeha-haproxy.yaml"
    static_pod_folder.ensure(node, [manifest])  # kubeadm's join left none: made and marked
    assert sorted(p.name for p in made.iterdir()) == [static_pod_folder.MARK]
    (made / "kubeha-haproxy.yaml").write_text("kind: Pod\n")
    static_pod_folder.drop(node, [manifest])  # a manifest still there: kept
    assert made.is_dir()
    (made / "kubeha-haproxy.yaml").unlink()
    static_pod_folder.drop(node, [manifest])  # only the mark left: removed
    assert not made.exists()
    found = tmp_path / "theirs"
    found.mkdir()
    static_pod_folder.ensure(node, [f"{found}/kubeha-haproxy.yaml"])  # there: left alone
    static_pod_folder.drop(node, [f"{found}/kubeha-haproxy.yaml"])
    assert found.is_dir() and list(found.iterdir()) == []
    with pytest.raises(RuntimeError, match="cannot create"):  # its parent must exist
        static_pod_folder.ensure(node, [f"{tmp_path}/no/such/kubeha-haproxy.yaml"])


def test_a_folder_kubelet_names_but_kubeadm_did_not_make_is_made_then_removed():
    profile = pod_profile()
    cluster = cluster_for(profile)
    worker = cluster.nodes["worker1"]
    del worker.kinds["/etc/kubernetes/manifests"]
    config = "staticPodPath: /etc/kubernetes/manifests\n"
    worker.files["/var/lib/kubelet/config.yaml"] = config
    summary, _ = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    made = "sh [ -d /etc/kubernetes/manifests ] ||"  # the fake node logs 60 characters
    assert any(line.startswith(made) for line in worker.log)
    summary, _ = apply(profile, cluster, uninstall=True)
    assert summary.ok
    dropped = f"sh if [ -e /etc/kubernetes/manifests/{static_pod_folder.MARK} ]"
    assert any(line.startswith(dropped) for line in worker.log[-40:])
