"""A profile that drops a part of its install (issue 25: the agent turned off) on in-memory
nodes: the next apply stops the part's unit and puts its files back once the plan verified, and
the manifest then names only what runs; an uninstall with the edited profile still gives back
everything the node's manifest records."""

from __future__ import annotations

import dataclasses

from tests.support.examples import changed, example_profile
from tests.support.fake_node import FakeCluster
from tests.support.fake_runs import apply_on as apply
from wizard.engine.apply import run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.node_manifest import MANIFEST, Manifest
from wizard.engine.phase import PhaseName
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies import node_agent

AGENT = node_agent.UNIT


def profiles():
    base = example_profile("local-haproxy")
    with_agent = changed(base, "agent", enabled=True, discovery=False)
    without = changed(base, "agent", enabled=False, discovery=False)
    return with_agent, without


def with_agent_installed(profile) -> FakeCluster:
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    for node in cluster.nodes.values():
        node.originals = True
    summary, _ = apply(profile, cluster)
    assert summary.ok, [n.reason for n in summary.nodes]
    node = cluster.nodes["worker1"]
    assert node.units[AGENT][1] and node_agent.PYZ_PATH in node.files
    return cluster


def manifest(node) -> Manifest:
    parsed = Manifest.parse(node.files[MANIFEST])
    assert parsed is not None
    return parsed


def agent_paths(profile) -> set[str]:
    return {f.path for f in build_plan(profile).for_node("worker1").files} & set(
        node_agent.node_paths(profile)
    )


def test_an_apply_without_the_agent_stops_it_and_gives_its_files_back():
    with_agent, without = profiles()
    cluster = with_agent_installed(with_agent)
    node = cluster.nodes["worker1"]
    dropped = agent_paths(with_agent)
    assert dropped and dropped <= set(manifest(node).files)
    summary, events = apply(without, cluster)
    assert summary.ok, [n.reason for n in summary.nodes]
    result = {n.node: n for n in summary.nodes}["worker1"]
    assert result.state is NodeState.VERIFIED
    assert dropped <= set(result.changed_files)  # what the run gave back, in its result
    assert node.units[AGENT][1] is False
    assert node.units["kube-haproxy.service"][1] is True
    for path in dropped:
        assert path not in node.files, path
    now = manifest(node)
    assert AGENT not in now.services and not dropped & set(now.files)
    retire = [e for e in events if e.phase == PhaseName.RETIRE and e.node == "worker1"]
    assert retire and "removed what the profile no longer has" in retire[-1].message
    assert AGENT in retire[-1].message
    # the balancer was never stopped: only the part the profile dropped
    assert "systemctl stop kube-haproxy.service" not in node.log
    # and a re-apply is a plain re-apply
    summary, _ = apply(without, cluster)
    assert {n.state for n in summary.nodes} == {NodeState.UNCHANGED}


def test_a_dry_run_says_what_it_would_drop_and_changes_nothing():
    with_agent, without = profiles()
    cluster = with_agent_installed(with_agent)
    node = cluster.nodes["worker1"]
    node.log.clear()
    summary, events = apply(without, cluster, dry_run=True)
    assert summary.ok
    lines = [line for e in events if e.node == "worker1" for line in e.lines]
    assert f"would stop {AGENT}, which the profile no longer has" in lines
    assert node.units[AGENT][1] is True
    assert not any(line.startswith(f"systemctl stop {AGENT}") for line in node.log)
    assert AGENT in manifest(node).services


def test_uninstall_with_the_edited_profile_removes_what_the_manifest_records():
    with_agent, without = profiles()
    cluster = with_agent_installed(with_agent)
    summary = run_uninstall(
        build_plan(without), ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster
    )
    assert summary.ok, [n.reason for n in summary.nodes]
    for node in cluster.nodes.values():
        assert node.units.get(AGENT, (False, False))[1] is False, node.name
        assert f"systemctl stop {AGENT}" in node.log
        for path in agent_paths(with_agent):
            assert path not in node.files, (node.name, path)
        assert MANIFEST not in node.files


def test_a_manifest_entry_that_is_not_a_unit_or_a_path_is_not_acted_on():
    with_agent, without = profiles()
    cluster = with_agent_installed(with_agent)
    node = cluster.nodes["worker1"]
    forged = Manifest.parse(node.files[MANIFEST])
    assert forged is not None
    text = forged.to_text().replace('"services": [', '"services": ["-H evil", ', 1)
    node.files[MANIFEST] = text.replace('"files": [', '"files": ["relative/path", ', 1)
    summary = run_uninstall(
        build_plan(without), ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster
    )
    assert summary.ok
    assert not any("-H evil" in line or "relative/path" in line for line in node.log)


def local_nginx_installed() -> tuple[Profile, FakeCluster]:
    """The example local-nginx profile applied on a fake cluster whose files have originals."""
    nginx = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in nginx.all_nodes()])
    for node in cluster.nodes.values():
        node.originals = True
    summary, _ = apply(nginx, cluster)
    assert summary.ok
    return nginx, cluster


def test_uninstall_of_another_profile_leaves_a_different_install_running():
    """A node that runs local-nginx for profile A: an uninstall of a local-haproxy profile B
    must not take A's balancer from A's clients, though both run the same session cutter unit
    (before: a unit in common made A's install B's, and B's uninstall removed it)."""
    _, cluster = local_nginx_installed()
    other = dataclasses.replace(example_profile("local-haproxy"), name="another")
    events = []
    summary = run_uninstall(
        build_plan(other), ApplyOptions(verify_timeout=0.5), events.append, connector=cluster
    )
    node = cluster.nodes["worker1"]
    assert node.units["kube-nginx.service"][1] is True
    assert node.units["kubeha-session-cutter.service"][1] is True
    assert "/etc/kube-nginx/kube-nginx.conf" in node.files
    assert "/usr/local/lib/kubeha/kubeha-session-cutter" in node.files
    assert "systemctl stop kube-nginx.service" not in node.log
    assert "systemctl stop kubeha-session-cutter.service" not in node.log
    assert node.files["/etc/hosts"].endswith("# managed by kubeha\n")  # A's line stays
    assert MANIFEST in node.files
    shown = [e.message for e in events if e.node == "worker1"]
    assert any("runs profile 'example-local-nginx'" in m and "left" in m for m in shown), shown
    assert summary.ok


def test_uninstall_under_a_new_profile_name_removes_the_same_strategys_install():
    """The same install under another profile name (the profile renamed since its apply) is
    this uninstall's: its balancer and the session cutter go, as with the old name."""
    nginx, cluster = local_nginx_installed()
    renamed = dataclasses.replace(nginx, name="renamed")
    summary = run_uninstall(
        build_plan(renamed), ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster
    )
    assert summary.ok, [n.reason for n in summary.nodes]
    node = cluster.nodes["worker1"]
    assert "systemctl stop kube-nginx.service" in node.log
    assert "systemctl stop kubeha-session-cutter.service" in node.log
    assert "/etc/kube-nginx/kube-nginx.conf" not in node.files
    assert MANIFEST not in node.files
