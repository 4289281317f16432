"""Two runs that overlap on the lab: the second fails at once naming the first (its run id,
host, PID and start time), the first goes on and succeeds, and no lock is left on any node.

The first run is held still, every node locked, by its own event sink while the second runs.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.support.labkit import Recorder, lab_profile, states, uninstall
from wizard.engine.apply import run_apply
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions
from wizard.engine.remote import NODE_LOCK
from wizard.profile_io import save_profile
from wizard.render import build_plan

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def base(lab):
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    yield lab_profile(lab, "local-nginx")
    uninstall(lab_profile(lab, "local-nginx"))


class HeldRun:
    """``run_apply`` in a thread that stops once every node is locked, until :meth:`finish`."""

    def __init__(self, profile, nodes: int) -> None:
        self.recorder = Recorder()
        self._nodes, self._connected = nodes, set()
        self._gate, self.paused = threading.Event(), threading.Event()
        self.run_id = ""
        self.summary = None
        self._thread = threading.Thread(target=self._run, args=(profile,))

    def _sink(self, event) -> None:
        self.recorder(event)
        self.run_id = event.run_id
        if event.phase == "connect" and event.status == "ok":
            self._connected.add(event.node)
        if len(self._connected) == self._nodes and not self.paused.is_set():
            self.paused.set()
            self._gate.wait(120)

    def _run(self, profile) -> None:
        self.summary = run_apply(build_plan(profile), ApplyOptions(), self._sink)

    def __enter__(self) -> HeldRun:
        self._thread.start()
        assert self.paused.wait(90), self.recorder.text()
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def finish(self):
        self._gate.set()
        self._thread.join(timeout=300)
        assert not self._thread.is_alive()
        return self.summary


def node_locks(lab) -> dict[str, str]:
    return {
        n.name: lab.exec_in_node(n.name, ["sh", "-c", f"cat {NODE_LOCK} 2>/dev/null"]).stdout
        for n in lab.nodes
    }


def test_a_second_apply_of_the_profile_fails_at_once_naming_the_first(lab, base, tmp_path):
    path = save_profile(base, tmp_path / "lab.toml")
    with HeldRun(base, len(lab.nodes)) as first:
        assert all(f'"run_id":"{first.run_id}"' in t for t in node_locks(lab).values())
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "wizard", "apply", str(path), "--yes"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - started
    summary = first.summary
    assert second.returncode == 1, second.stderr
    for part in (f"run {first.run_id}", f"PID {os.getpid()}", socket.gethostname(), "started"):
        assert part in second.stderr, second.stderr
    assert "Traceback" not in second.stderr and took < 30
    assert summary.ok, first.recorder.text()
    assert set(states(summary).values()) == {"verified"}
    assert node_locks(lab) == dict.fromkeys((n.name for n in lab.nodes), "")


def test_a_profile_sharing_the_nodes_fails_on_each_node_naming_the_holder(lab, base):
    twin = dataclasses.replace(base, name="lab-local-nginx-twin")
    with HeldRun(base, len(lab.nodes)) as first:
        recorder = Recorder()
        second = run_apply(build_plan(twin), ApplyOptions(), recorder)
    summary = first.summary
    assert set(states(second).values()) == {"untouched"}, recorder.text()
    for result in second.nodes:
        assert f"locked by another kubeha run: run {first.run_id}" in result.reason
        assert f"PID {os.getpid()}" in result.reason
    assert not [e for e in recorder.events if e.phase in ("upload", "activate", "rollback")]
    assert summary.ok, first.recorder.text()
    assert node_locks(lab) == dict.fromkeys((n.name for n in lab.nodes), "")


def test_a_stale_lock_is_replaced_and_a_foreign_one_fails_only_its_node(lab, base):
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = dataclasses.replace(
        LockHolder.here("20260101-000000-00001", "old"), pid=gone.pid, started=time.time() - 60
    )
    foreign = LockHolder("20260101-000000-00002", "theirs", "ops-laptop", 4242, time.time())
    write = f'mkdir -p {os.path.dirname(NODE_LOCK)} && printf %s "$1" > {NODE_LOCK}'
    lab.exec_in_node("m1", ["sh", "-c", write, "w", stale.to_text()], check=True)
    lab.exec_in_node("w2", ["sh", "-c", write, "w", foreign.to_text()], check=True)
    try:
        recorder = Recorder()
        summary = run_apply(build_plan(base), ApplyOptions(), recorder)
        result = {n.node: n for n in summary.nodes}
        assert result["w2"].state.value == "untouched"
        assert "run 20260101-000000-00002" in result["w2"].reason
        assert "ops-laptop" in result["w2"].reason and f"rm {NODE_LOCK}" in result["w2"].reason
        assert result["m1"].ok, recorder.text()
        assert "replacing the stale lock of run 20260101-000000-00001" in recorder.text()
        assert all(result[n].ok for n in ("m1", "m2", "m3", "w1"))
        locks = node_locks(lab)
        assert locks["w2"] == foreign.to_text()  # another run's lock is never removed
        assert not any(locks[n] for n in ("m1", "m2", "m3", "w1"))
    finally:
        lab.exec_in_node("w2", ["rm", "-f", NODE_LOCK])
