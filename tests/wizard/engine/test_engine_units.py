"""The engine's logic on in-memory nodes: what changes, what restarts, what rolls back, what
runs in parallel, and that no secret reaches an event, the log or the run state."""

from __future__ import annotations

import threading

import pytest

from tests.support.examples import example_profile, section
from tests.support.fake_node import FakeCluster
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions, NodeState, Secrets
from wizard.engine.runstate import last_run, runs_dir
from wizard.render import build_plan

CONF = "/etc/kube-nginx/kube-nginx.conf"
UNIT_FILE = "/etc/systemd/system/kube-nginx.service"
UNIT = "kube-nginx.service"


@pytest.fixture
def profile():
    return example_profile("local-nginx")


@pytest.fixture
def cluster(profile):
    return FakeCluster([n.name for n in profile.all_nodes()])


def apply(profile, cluster, events=None, **options):
    sink = events.append if events is not None else (lambda e: None)
    return run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5, **options), sink, connector=cluster
    )


def states(summary):
    return {n.node: n.state for n in summary.nodes}


def test_fresh_apply_creates_enables_starts_and_verifies(profile, cluster):
    summary = apply(profile, cluster)
    assert summary.ok
    assert set(states(summary).values()) == {NodeState.VERIFIED}
    node = cluster.nodes["master1"]
    assert "listen 127.0.0.1:8443 reuseport;" in node.files[CONF]
    assert node.units[UNIT] == (True, True)
    assert "systemctl daemon-reload" in node.log
    assert all(n.closed for n in cluster.nodes.values())


def test_second_apply_changes_and_restarts_nothing(profile, cluster):
    apply(profile, cluster)
    for node in cluster.nodes.values():
        node.log.clear()
    summary = apply(profile, cluster)
    assert set(states(summary).values()) == {NodeState.UNCHANGED}
    for node in cluster.nodes.values():
        assert not [
            line
            for line in node.log
            if line.startswith(
                ("commit", "systemctl start", "systemctl restart", "systemctl reload")
            )
        ]


def test_config_change_reloads_and_unit_change_restarts(profile, cluster):
    import dataclasses

    apply(profile, cluster)
    changed = dataclasses.replace(
        profile,
        tables={
            **profile.tables,
            "local_nginx": dataclasses.replace(section(profile, "local_nginx"), listen_port=9443),
        },
    )
    summary = apply(changed, cluster)
    result = summary.nodes[0]
    assert result.changed_files == (CONF,)
    assert result.reloaded == (UNIT,) and result.restarted == ()


def test_rejected_file_leaves_the_node_untouched(profile, cluster):
    cluster.nodes["worker1"].reject_marker = "kube_apiserver"
    summary = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}["worker1"]
    assert result.state is NodeState.UNTOUCHED and "check refused" in result.reason
    assert CONF not in cluster.nodes["worker1"].files
    assert not any(k.endswith(".kubeha-new") for k in cluster.nodes["worker1"].files)
    assert {n for n, s in states(summary).items() if s is NodeState.VERIFIED} == {
        "master1",
        "master2",
        "master3",
        "worker2",
    }


def test_failed_verify_rolls_back_files_and_units(profile, cluster):
    apply(profile, cluster)
    before = dict(cluster.nodes["worker2"].files)
    import dataclasses

    changed = dataclasses.replace(
        profile,
        tables={
            **profile.tables,
            "local_nginx": dataclasses.replace(section(profile, "local_nginx"), listen_port=9443),
        },
    )
    cluster.nodes["worker2"].serving = False
    summary = apply(changed, cluster)
    result = {n.node: n for n in summary.nodes}["worker2"]
    assert result.state is NodeState.BROKEN or result.state is NodeState.ROLLED_BACK
    node = cluster.nodes["worker2"]
    assert node.files[CONF] == before[CONF]
    assert f"restore {CONF}" in node.log


def test_first_install_that_fails_removes_its_unit(profile, cluster):
    cluster.nodes["master2"].fail_start = {UNIT}
    summary = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}["master2"]
    assert result.state is NodeState.ROLLED_BACK
    node = cluster.nodes["master2"]
    assert CONF not in node.files and UNIT_FILE not in node.files
    assert node.units[UNIT] == (False, False)
    assert "journal of kube-nginx.service" in " ".join(result.reason.split()) or result.reason


def test_unreachable_node_never_stops_the_others(profile):
    cluster = FakeCluster([n.name for n in profile.all_nodes()], unreachable={"master1"})
    summary = apply(profile, cluster)
    assert states(summary)["master1"] is NodeState.UNTOUCHED
    assert sum(1 for s in states(summary).values() if s is NodeState.VERIFIED) == 4
    assert not summary.ok and [n.node for n in summary.failed()] == ["master1"]


def test_port_held_by_something_else_fails_in_facts(profile, cluster):
    cluster.nodes["worker1"].listening = ("127.0.0.1:8443",)
    summary = apply(profile, cluster)
    result = {n.node: n for n in summary.nodes}["worker1"]
    assert result.state is NodeState.UNTOUCHED and "already in use" in result.reason


def test_concurrency_is_bounded(profile, cluster):
    for node in cluster.nodes.values():
        node.delay = 0.01
    apply(profile, cluster, concurrency=2)
    assert cluster.most_open <= 2


def test_dry_run_shows_diffs_and_changes_nothing(profile, cluster):
    summary = apply(profile, cluster, dry_run=True)
    assert set(states(summary).values()) == {NodeState.PLANNED}
    assert all(not n.files for n in cluster.nodes.values())
    diff = {d.path: d for d in summary.nodes[0].diffs}[CONF]
    assert diff.action == "create" and "+        listen 127.0.0.1:8443 reuseport;" in diff.diff


def test_cancel_before_start_changes_nothing(profile, cluster):
    cancel = threading.Event()
    cancel.set()
    summary = run_apply(
        build_plan(profile), ApplyOptions(), lambda e: None, cancel=cancel, connector=cluster
    )
    assert set(states(summary).values()) == {NodeState.CANCELLED}
    assert all(not n.files for n in cluster.nodes.values())


def test_resume_runs_only_what_did_not_finish(profile, cluster):
    cluster.nodes["worker2"].reject_marker = "kube_apiserver"
    apply(profile, cluster)
    assert last_run(profile.name).nodes["worker2"] == "untouched"
    cluster.nodes["worker2"].reject_marker = None
    summary = apply(profile, cluster, resume=True)
    assert states(summary) == {"worker2": NodeState.VERIFIED}


def test_secrets_never_reach_events_log_or_state(profile, cluster):
    secret = "s3cr3t-Passphrase"
    for node in cluster.nodes.values():
        node.output = f"echo {secret}"
        node.fail_start = {UNIT}
    events = []
    summary = run_apply(
        build_plan(profile),
        ApplyOptions(),
        events.append,
        connector=cluster,
        secrets=Secrets(passphrase=secret, sudo_password="sudo-PW-1"),
    )
    assert not summary.ok
    text = "\n".join(e.to_json() for e in events)
    assert "journal of" in text and secret not in text
    for path in runs_dir(profile.name).rglob("*"):
        if path.is_file():
            content = path.read_text()
            assert secret not in content and "sudo-PW-1" not in content


def test_unknown_only_node_is_an_error(profile, cluster):
    from wizard.errors import KubehaError

    with pytest.raises(KubehaError, match="no node named nope"):
        apply(profile, cluster, only=("nope",))


def test_cancel_mid_run_rolls_back_what_was_not_verified(profile, cluster):
    cancel = threading.Event()

    def sink(event):
        if event.phase == "upload" and event.status == "changed":
            cancel.set()

    for node in cluster.nodes.values():
        node.delay = 0.005
    summary = run_apply(
        build_plan(profile), ApplyOptions(concurrency=1), sink, cancel=cancel, connector=cluster
    )
    by_state = {}
    for result in summary.nodes:
        by_state.setdefault(result.state, []).append(result.node)
    # The node that was mid-way is rolled back; the others never started a change.
    assert by_state.get(NodeState.ROLLED_BACK) == ["master1"]
    assert set(by_state[NodeState.CANCELLED]) == {"master2", "master3", "worker1", "worker2"}
    assert all(
        not any(not k.endswith(".kubeha-prev") for k in n.files) for n in cluster.nodes.values()
    )


def test_a_failed_fleet_is_named_by_its_first_nodes_and_a_count():
    from pathlib import Path

    from wizard.engine.model import NodeResult, NodeState, RunSummary
    from wizard.engine.report import NAMED_AT_MOST, summary_lines

    nodes = tuple(NodeResult(f"w{i}", NodeState.UNTOUCHED, "unreachable") for i in range(2003))
    summary = RunSummary("run-0001", "fleet", nodes, Path("/tmp/x/log.jsonl"))
    verdict = next(line for line in summary_lines(summary) if "node(s) failed" in line)
    assert verdict.startswith("2003 node(s) failed: w0, w1, ")
    assert f"w{NAMED_AT_MOST - 1} and {2003 - NAMED_AT_MOST} more." in verdict
    assert len(verdict) < 400
