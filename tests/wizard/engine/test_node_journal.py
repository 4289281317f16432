"""The node's journal of a change in progress: its text form, and what a run does when it finds
one an interrupted run left (in-memory nodes; the lab test kills real runs)."""

from __future__ import annotations

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from tests.support.fake_runs import apply_on as apply
from wizard.engine.model import NodeState
from wizard.engine.node_journal import JOURNAL, Journal, JournalEntry
from wizard.engine.node_manifest import MANIFEST, Manifest

CONF = "/etc/kube-nginx/kube-nginx.conf"
UNIT = "kube-nginx.service"


def test_journal_round_trip_and_garbage():
    journal = Journal("run-1", (JournalEntry(CONF, UNIT, False),))
    journal = journal.with_entry(JournalEntry("/etc/x", None, True))
    assert Journal.parse(journal.to_text()) == journal
    assert journal.with_entry(JournalEntry(CONF, UNIT, True)).entries[-1].restart
    for garbage in ("", "{}", "[", '{"run_id": 1}', "[" * 100000, "x" * 300000):
        assert Journal.parse(garbage) is None


def test_unchanged_files_of_an_interrupted_run_are_activated_and_the_journal_cleared():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    summary, _ = apply(profile, cluster)
    assert summary.ok
    node = cluster.nodes["master1"]
    # A run put the config in place and died before reloading: files are what we want.
    node.files[JOURNAL] = Journal("dead-run", (JournalEntry(CONF, UNIT, False),)).to_text()
    for each in cluster.nodes.values():
        each.log.clear()
    summary, events = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}
    assert result["master1"].state is NodeState.VERIFIED
    assert result["master1"].reloaded == (UNIT,)
    assert f"rm -f {JOURNAL}" in node.log
    assert any("run dead-run stopped during its change" in line for e in events for line in e.lines)
    assert result["master2"].state is NodeState.UNCHANGED  # no journal: nothing to finish


def test_a_dry_run_says_it_would_finish_the_change_and_touches_nothing():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    apply(profile, cluster)
    node = cluster.nodes["master1"]
    node.files[JOURNAL] = Journal("dead-run", (JournalEntry(CONF, UNIT, False),)).to_text()
    node.log.clear()
    _, events = apply(profile, cluster, dry_run=True)
    assert any("would finish it" in line for e in events for line in e.lines)
    assert not [line for line in node.log if line.startswith(("systemctl reload", "rm -f"))]


def test_a_failed_finish_puts_the_previous_files_back():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    apply(profile, cluster)
    node = cluster.nodes["master1"]
    node.files[CONF + ".kubeha-prev"] = "the config before the interrupted run\n"
    node.files[JOURNAL] = Journal("dead-run", (JournalEntry(CONF, UNIT, False),)).to_text()
    node.serving = False
    summary, _ = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}
    assert result["master1"].state in (NodeState.ROLLED_BACK, NodeState.BROKEN)
    assert node.files[CONF] == "the config before the interrupted run\n"


def test_another_strategy_installed_on_a_node_is_refused_before_any_change():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    node = cluster.nodes["master1"]
    node.files[MANIFEST] = Manifest(
        "hk", "haproxy-keepalived", ("/etc/haproxy/haproxy.cfg",), ("haproxy.service",)
    ).to_text()
    summary, _ = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}
    assert result["master1"].state is NodeState.UNTOUCHED
    assert "runs kubeha's haproxy-keepalived (profile 'hk'" in result["master1"].reason
    assert "kubeha uninstall hk" in result["master1"].reason
    assert not [line for line in node.log if line.startswith("commit")]
    assert result["master2"].state is NodeState.VERIFIED


def test_the_same_strategy_in_the_manifest_is_an_update():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    node = cluster.nodes["master1"]
    node.files[MANIFEST] = Manifest("old", "local-nginx", (), ("kube-nginx.service",)).to_text()
    summary, _ = apply(profile, cluster)
    assert summary.ok


def test_a_re_apply_leaves_the_manifest_as_it_is():
    profile = example_profile("local-nginx")
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    summary, _ = apply(profile, cluster)
    assert summary.ok
    node = cluster.nodes["master1"]
    written = Manifest.parse(node.files[MANIFEST])
    assert written is not None and written.strategy == "local-nginx"
    node.files[MANIFEST] = written.to_text().replace(written.run_id, "an-earlier-run")
    summary, _ = apply(profile, cluster)
    assert summary.ok
    assert Manifest.parse(node.files[MANIFEST]).run_id == "an-earlier-run"  # not written again
