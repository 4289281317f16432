"""Locks of a run: one apply or uninstall per profile on this machine, and one run per node.

On in-memory nodes (tests/support/fake_node.py) for the engine's behaviour, and with the real lock
script run by a local shell (no SSH) for the node side's take, replace and release."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time

import pytest

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.locks import LockHeld, LockHolder, profile_lock
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.node_lock import NodeLocked, take
from wizard.engine.remote import NODE_LOCK, RemoteNode
from wizard.engine.runstate import runs_dir
from wizard.engine.transport import CommandResult
from wizard.render import build_plan

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


def results(summary):
    return {n.node: n for n in summary.nodes}


def other_host(run_id="20260101-000000-00042") -> LockHolder:
    return LockHolder(run_id, "someone-else", "ops-laptop", 4242, 1_700_000_000.0, "f" * 32)


def dead_here() -> LockHolder:
    """A run of this host whose process is gone."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    here = LockHolder.here("20260101-000000-00007", "old-run")
    return dataclasses.replace(here, pid=proc.pid, started=time.time() - 60)


def no_locks_left(cluster) -> bool:
    return all(not n.locks for n in cluster.nodes.values())


# --- the holder ----------------------------------------------------------------------------


def test_holder_round_trips_and_names_itself():
    holder = LockHolder.here("20261201-101010-00123", "prod")
    assert LockHolder.parse(holder.to_text()) == holder
    text = holder.describe()
    assert "run 20261201-101010-00123" in text and f"PID {os.getpid()}" in text
    assert holder.host in text and "UTC" in text and "'prod'" in text
    assert LockHolder.parse("not json") is None and LockHolder.parse('{"run_id": 1}') is None


def test_stale_only_when_the_run_on_this_host_is_over():
    assert dead_here().is_stale()
    assert not other_host().is_stale()  # never judged from another host
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        here = LockHolder.here("r", "p")
        alive = dataclasses.replace(here, pid=sleeper.pid, started=time.time() + 5)
        assert not alive.is_stale()
        reused = dataclasses.replace(alive, started=time.time() - 10**6)
        assert reused.is_stale()  # that PID now belongs to a process younger than the lock
    finally:
        sleeper.kill()
        sleeper.wait()
    ours = LockHolder.here("20261201-000000-00009", "p")
    with profile_lock(ours, enabled=False):
        assert not ours.is_stale()  # this process, the run going on
    assert ours.is_stale()  # this process, the run over (the wizard lives on)


# --- this machine's lock of the profile ----------------------------------------------------


def test_a_second_run_of_the_profile_fails_at_once_naming_the_first(profile, cluster):
    for node in cluster.nodes.values():
        node.delay = 0.02
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(summary=apply(profile, cluster)))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not any(n.locks for n in cluster.nodes.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(LockHeld) as caught:
            apply(profile, FakeCluster([n.name for n in profile.all_nodes()]))
        assert time.monotonic() - started < 2  # at once, no waiting
    finally:
        thread.join(timeout=60)
    message = str(caught.value)
    summary = first["summary"]
    assert f"run {summary.run_id}" in message and f"PID {os.getpid()}" in message
    assert "started " in message and "on host " in message
    assert caught.value.exit_code == 1
    assert summary.ok  # the first run went on undisturbed
    assert [p.name for p in runs_dir(profile.name).iterdir()] == [summary.run_id]
    assert no_locks_left(cluster)


def test_uninstall_takes_the_same_profile_lock(profile, cluster):
    holder = LockHolder.here("20261201-000000-00001", profile.name)
    with profile_lock(holder), pytest.raises(LockHeld, match="run 20261201-000000-00001"):
        run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert all(not n.log for n in cluster.nodes.values())


def test_the_profile_lock_is_free_again_after_a_run_that_raised(profile, cluster):
    def sink(event):
        if event.node is None and event.phase == "run" and event.status != "started":
            raise RuntimeError("the screen went away")

    with pytest.raises(RuntimeError):
        run_apply(build_plan(profile), ApplyOptions(verify_timeout=0.5), sink, connector=cluster)
    assert no_locks_left(cluster)
    assert all(n.closed for n in cluster.nodes.values())
    assert apply(profile, cluster).ok  # neither lock was left behind


def test_a_dry_run_takes_no_lock(profile, cluster):
    held = other_host()
    cluster.nodes["master1"].locks[NODE_LOCK] = held.to_text()
    with profile_lock(LockHolder.here("20261201-000000-00001", profile.name)):
        summary = apply(profile, cluster, dry_run=True)
    assert {n.state for n in summary.nodes} == {NodeState.PLANNED}
    assert cluster.nodes["master1"].locks == {NODE_LOCK: held.to_text()}
    assert not any(line.startswith("lock") for n in cluster.nodes.values() for line in n.log)


# --- the node's lock -------------------------------------------------------------------------


def test_a_node_locked_by_another_run_fails_naming_it_and_the_others_carry_on(profile, cluster):
    held = other_host()
    cluster.nodes["master2"].locks[NODE_LOCK] = held.to_text()
    summary = apply(profile, cluster)
    result = results(summary)["master2"]
    assert result.state is NodeState.UNTOUCHED
    assert f"run {held.run_id}" in result.reason and "PID 4242" in result.reason
    assert "host ops-laptop" in result.reason and f"rm {NODE_LOCK}" in result.reason
    assert "/etc/kube-nginx/kube-nginx.conf" not in cluster.nodes["master2"].files
    assert {n: r.state for n, r in results(summary).items() if n != "master2"} == dict.fromkeys(
        ["master1", "master3", "worker1", "worker2"], NodeState.VERIFIED
    )
    assert cluster.nodes["master2"].locks == {NODE_LOCK: held.to_text()}  # theirs, kept
    assert all(not n.locks for name, n in cluster.nodes.items() if name != "master2")


def test_two_profiles_sharing_nodes_never_interleave(profile, cluster):
    other = dataclasses.replace(profile, name="same-nodes-other-profile")
    for node in cluster.nodes.values():
        node.delay = 0.02
    gate, paused = threading.Event(), threading.Event()
    connected: set[str] = set()

    def sink(event):  # the first run stops once every node is locked, until the second ran
        if event.phase == "connect" and event.status == "ok":
            connected.add(event.node)
        if len(connected) == 5 and not paused.is_set():
            paused.set()
            gate.wait(30)

    first: dict = {}
    options = ApplyOptions(verify_timeout=0.5)
    thread = threading.Thread(
        target=lambda: first.update(
            summary=run_apply(build_plan(profile), options, sink, connector=cluster)
        )
    )
    thread.start()
    try:
        assert paused.wait(10)
        deadline = time.monotonic() + 10
        while sum(bool(n.locks) for n in cluster.nodes.values()) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = apply(other, cluster)
    finally:
        gate.set()
        thread.join(timeout=60)
    assert {r.state for r in second.nodes} == {NodeState.UNTOUCHED}
    run_id = first["summary"].run_id
    assert all(f"locked by another kubeha run: run {run_id}" in r.reason for r in second.nodes)
    assert first["summary"].ok
    assert no_locks_left(cluster)


def test_a_stale_lock_of_this_host_is_replaced_and_said_so(profile, cluster):
    stale = dead_here()
    cluster.nodes["worker1"].locks[NODE_LOCK] = stale.to_text()
    events = []
    summary = apply(profile, cluster, events)
    assert summary.ok
    said = [e.message for e in events if e.node == "worker1" and e.phase == "connect"]
    assert any(f"replacing the stale lock of run {stale.run_id}" in m for m in said)
    assert no_locks_left(cluster)


def test_a_lock_an_earlier_run_of_this_process_left_is_replaced(profile, cluster):
    earlier = LockHolder.here("20261201-000000-00003", profile.name)  # its release failed
    cluster.nodes["worker1"].locks[NODE_LOCK] = earlier.to_text()
    assert apply(profile, cluster).ok
    assert no_locks_left(cluster)


def test_the_lock_is_released_after_a_rollback(profile, cluster):
    cluster.nodes["master3"].fail_start = {UNIT}
    summary = apply(profile, cluster)
    assert results(summary)["master3"].state is NodeState.ROLLED_BACK
    log = cluster.nodes["master3"].log
    assert log.index(f"unlock {NODE_LOCK}") > max(i for i, x in enumerate(log) if "restore" in x)
    assert no_locks_left(cluster)


def test_the_lock_is_released_after_an_internal_error(profile, cluster):
    def broken(*args, **kwargs):
        raise ValueError("a bug")

    cluster.nodes["worker2"].probe = broken
    summary = apply(profile, cluster)
    assert "internal error" in results(summary)["worker2"].reason
    assert no_locks_left(cluster)


def test_uninstall_fails_on_a_node_another_run_holds(profile, cluster):
    held = other_host()
    cluster.nodes["worker1"].locks[NODE_LOCK] = held.to_text()
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert results(summary)["worker1"].state is NodeState.UNTOUCHED
    assert f"run {held.run_id}" in results(summary)["worker1"].reason
    assert results(summary)["worker2"].state is NodeState.REMOVED
    assert cluster.nodes["worker1"].locks == {NODE_LOCK: held.to_text()}
    assert all(not n.locks for name, n in cluster.nodes.items() if name != "worker1")


# --- the node side, with the real script ------------------------------------------------------


class LocalShell:
    """A Transport that runs the argv on this machine (the lock script needs only sh, flock)."""

    label = "local"

    def run(self, argv, *, timeout=120, stdin=None):
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def put(self, data, path, mode):
        raise NotImplementedError

    def close(self):
        pass


def test_the_node_script_takes_refuses_replaces_and_releases(tmp_path):
    node = RemoteNode(LocalShell())  # type: ignore[arg-type]
    path = str(tmp_path / "run" / "kubeha" / "apply.lock")
    ours, theirs = LockHolder.here("20261201-000000-00001", "a"), other_host()
    assert node.try_lock(ours.to_text(), path=path) is None
    assert (tmp_path / "run/kubeha/apply.lock").read_text() == ours.to_text()
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert node.try_lock(ours.to_text(), path=path) is None  # ours already
    assert node.try_lock(theirs.to_text(), path=path) == ours.to_text()
    # Replacing a stale holder works only while the lock still holds exactly that holder.
    assert node.try_lock(theirs.to_text(), stale="something else", path=path) == ours.to_text()
    node.unlock(theirs.to_text(), path=path)  # not theirs to release
    assert os.path.exists(path)
    node.unlock(ours.to_text(), path=path)
    assert not os.path.exists(path)
    node.unlock(ours.to_text(), path=path)  # nothing to release: fine


def test_the_node_script_with_a_stale_lock(tmp_path):
    node = RemoteNode(LocalShell())  # type: ignore[arg-type]
    path = str(tmp_path / "apply.lock")
    stale, ours = dead_here(), LockHolder.here("20261201-000000-00002", "a")
    assert node.try_lock(stale.to_text(), path=path) is None
    with profile_lock(ours, enabled=False):  # ours goes on meanwhile
        assert "replacing the stale lock" in take(node, ours, path=path)
        with pytest.raises(NodeLocked, match="run 20261201-000000-00002"):
            take(node, other_host(), path=path)


def test_an_unreadable_holder_is_shown_escaped(tmp_path):
    node = RemoteNode(LocalShell())  # type: ignore[arg-type]
    path = str(tmp_path / "apply.lock")
    node.try_lock("garbage\x1b[31m", path=path)
    with pytest.raises(NodeLocked) as caught:
        take(node, other_host(), path=path)
    assert "\x1b" not in str(caught.value) and "unknown holder" in str(caught.value)


@pytest.mark.parametrize("kind", ["symlink", "folder", "fifo"])
def test_a_profile_lock_that_is_not_a_file_is_named_not_a_traceback(
    profile, cluster, tmp_path, kind
):
    from wizard.engine.locks import lock_path
    from wizard.errors import UsageError

    path = lock_path(profile.name)
    target = tmp_path / "elsewhere"
    target.write_text("someone's file\n")
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    words = {"symlink": "a symbolic link", "folder": "a folder", "fifo": "a FIFO"}[kind]
    with pytest.raises(UsageError, match=rf"lock file .*\.lock: is {words}: expected a regular"):
        run_apply(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert target.read_text() == "someone's file\n"
    assert all(not n.log for n in cluster.nodes.values())
