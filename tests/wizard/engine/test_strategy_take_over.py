"""A strategy change in place (issue 15): local-haproxy takes over local-nginx's port on the same
nodes and back; the old balancer stops only once the new one verified, and a new one that does
not serve alone puts the old one back (in-memory nodes; tests/lab/install/test_strategy_change.py
runs it on the lab with clients running)."""

from __future__ import annotations

import dataclasses

from tests.support.examples import example_profile, section
from tests.support.fake_node import FakeCluster
from tests.support.fake_runs import apply_on as apply
from wizard.engine.model import NodeState
from wizard.engine.node_manifest import MANIFEST, Manifest
from wizard.engine.phase import PhaseName
from wizard.render import build_plan

NGINX, HAPROXY = "kube-nginx.service", "kube-haproxy.service"


def installed(profile) -> FakeCluster:
    """Nodes that run local-nginx (kubeha's) and remove a file on restore_original."""
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    for node in cluster.nodes.values():

        def restore_original(path, node=node):
            node.log.append(f"restore-original {path}")
            return "removed" if node.files.pop(path, None) is not None else "kept"

        node.restore_original = restore_original
    summary, _ = apply(profile, cluster)
    assert summary.ok
    return cluster


def manifest(node) -> Manifest:
    parsed = Manifest.parse(node.files[MANIFEST])
    assert parsed is not None
    return parsed


def test_local_haproxy_takes_over_local_nginx_after_it_verified_beside_it():
    nginx, haproxy = example_profile("local-nginx"), example_profile("local-haproxy")
    cluster = installed(nginx)
    old_files = manifest(cluster.nodes["master1"]).files
    assert manifest(cluster.nodes["master1"]).shares_port
    for node in cluster.nodes.values():
        node.log.clear()
    summary, events = apply(haproxy, cluster)
    assert summary.ok, [n.reason for n in summary.nodes]
    for result in summary.nodes:
        assert result.state is NodeState.VERIFIED
        assert "took over from local-nginx" in result.reason
    node = cluster.nodes["master1"]
    log = node.log
    # The new one starts (beside the old one) before the old one stops.
    assert log.index(f"systemctl start {HAPROXY}") < log.index(f"systemctl stop {NGINX}")
    # kube-nginx is stopped gently (QUIT through a runtime drop-in, removed right after).
    drop_in = next(i for i, line in enumerate(log) if "kube-nginx.service.d" in line)
    assert drop_in < log.index(f"systemctl stop {NGINX}")
    assert any(line.startswith("sh rm -f") and "kubeha-drain" in line for line in log)
    assert node.units[NGINX][1] is False and node.units[HAPROXY][1] is True
    shared = {f.path for f in build_plan(haproxy).for_node("master1").files}
    assert "/etc/hosts" in shared  # the API host name's line: both keep it, nothing is undone
    for path in set(old_files) - shared:
        assert path not in node.files, path
        assert f"restore-original {path}" in log
    assert "restore-original /etc/hosts" not in log
    now = manifest(node)
    assert (now.strategy, now.profile) == ("local-haproxy", haproxy.name)
    assert now.ports == (("127.0.0.1", 8443),)
    retire = [e for e in events if e.phase == PhaseName.RETIRE and e.node == "master1"]
    assert retire and "took over from local-nginx" in retire[-1].message
    # And back again: local-nginx takes the port back the same way.
    summary, _ = apply(nginx, cluster)
    assert summary.ok and manifest(node).strategy == "local-nginx"
    assert node.units[HAPROXY][1] is False and node.units[NGINX][1] is True
    # A re-apply then is a plain re-apply: nothing to take over.
    summary, _ = apply(nginx, cluster)
    assert {n.state for n in summary.nodes} == {NodeState.UNCHANGED}


def test_a_new_balancer_that_does_not_serve_alone_puts_the_old_one_back():
    nginx, haproxy = example_profile("local-nginx"), example_profile("local-haproxy")
    cluster = installed(nginx)
    node = cluster.nodes["master2"]
    # Only kube-nginx answers on this node: the probe passes while both run, not once it stops.
    node.probe = lambda url, timeout=3.0: type(node).probe(
        dataclasses.replace(node, serving=node.units.get(NGINX, (False, False))[1]), url
    )
    summary, _ = apply(haproxy, cluster)
    result = {n.node: n for n in summary.nodes}["master2"]
    assert result.state is NodeState.ROLLED_BACK, result
    assert "alone does not serve" in result.reason
    assert node.units[NGINX][1] is True and node.units[HAPROXY][1] is False
    assert manifest(node).strategy == "local-nginx"
    assert "/etc/kube-nginx/kube-nginx.conf" in node.files
    assert "/etc/kube-haproxy/haproxy.cfg" not in node.files
    assert {n.state for n in summary.nodes if n.node != "master2"} == {NodeState.VERIFIED}


def test_a_dry_run_says_it_would_take_over_and_stops_nothing():
    nginx, haproxy = example_profile("local-nginx"), example_profile("local-haproxy")
    cluster = installed(nginx)
    node = cluster.nodes["master1"]
    node.log.clear()
    summary, events = apply(haproxy, cluster, dry_run=True)
    assert summary.ok
    lines = [line for e in events if e.node == "master1" for line in e.lines]
    assert any(f"would stop {NGINX}" in line for line in lines), lines
    assert not [line for line in node.log if line.startswith(("systemctl stop", "commit"))]
    assert manifest(node).strategy == "local-nginx"


def test_another_port_or_an_old_manifest_is_refused_before_any_change():
    nginx, haproxy = example_profile("local-nginx"), example_profile("local-haproxy")
    other_port = dataclasses.replace(
        haproxy,
        tables={
            **haproxy.tables,
            "local_haproxy": dataclasses.replace(
                section(haproxy, "local_haproxy"), listen_port=8444
            ),
        },
    )
    cluster = installed(nginx)
    node = cluster.nodes["master1"]
    node.log.clear()
    summary, _ = apply(other_port, cluster)
    result = {n.node: n for n in summary.nodes}["master1"]
    assert result.state is NodeState.UNTOUCHED
    assert "cannot take it over in place" in result.reason
    assert "kubeha uninstall" in result.reason
    assert not [line for line in node.log if line.startswith(("commit", "systemctl stop"))]
    # A manifest from before kubeha recorded ports (its nginx may not share the port).
    old = dataclasses.replace(manifest(node), ports=(), shares_port=False)
    node.files[MANIFEST] = old.to_text()
    summary, _ = apply(haproxy, cluster)
    assert {n.node: n for n in summary.nodes}["master1"].state is NodeState.UNTOUCHED


def test_an_old_file_that_cannot_be_put_back_stays_recorded_and_the_next_apply_retries():
    nginx, haproxy = example_profile("local-nginx"), example_profile("local-haproxy")
    cluster = installed(nginx)
    node = cluster.nodes["master1"]
    stuck = "/etc/kube-nginx/kube-nginx.conf"
    restore = node.restore_original

    def failing(path):
        if path == stuck:
            raise RuntimeError(f"cannot restore {path}: read-only file system")
        return restore(path)

    node.restore_original = failing
    summary, events = apply(haproxy, cluster)
    retire = [e for e in events if e.phase == PhaseName.RETIRE and e.node == "master1"]
    assert summary.ok and "cannot restore" in retire[-1].message
    assert manifest(node).strategy == "local-haproxy" and stuck in manifest(node).files
    node.restore_original = restore
    summary, _ = apply(haproxy, cluster)
    assert summary.ok and stuck not in node.files and stuck not in manifest(node).files
