"""A lab node's cgroups (wizard.lab.node): every node gets its own, and they are removed with it,
a folder still busy (a task of the node still exiting) tried again for a bounded time."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from wizard.lab import node


def busy_then_free(tries: int):
    """os.rmdir that says EBUSY ``tries`` times per folder, then removes it."""
    seen: dict[str, int] = {}
    real = os.rmdir

    def rmdir(path):
        seen[str(path)] = seen.get(str(path), 0) + 1
        if seen[str(path)] <= tries:
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        real(path)

    return rmdir


def test_a_busy_cgroup_is_tried_again_and_removed(tmp_path: Path, monkeypatch) -> None:
    own = tmp_path / "kubeha-lab-m1"
    (own / "payload" / "init.scope").mkdir(parents=True)
    monkeypatch.setattr(node, "cgroup_dirs", lambda name: [own])
    monkeypatch.setattr(node.os, "rmdir", busy_then_free(2))
    assert node.remove_cgroups("m1") == []
    assert not own.exists()


def test_a_cgroup_busy_past_the_limit_is_named(tmp_path: Path, monkeypatch) -> None:
    own = tmp_path / "kubeha-lab-m1"
    own.mkdir()
    monkeypatch.setattr(node, "cgroup_dirs", lambda name: [own])
    monkeypatch.setattr(node.os, "rmdir", busy_then_free(10**6))
    assert node.remove_cgroups("m1", busy_s=0.3) == [str(own)]


def test_every_node_starts_in_cgroups_of_its_own(tmp_path: Path, monkeypatch) -> None:
    """start_container makes the node's cgroups and joins them before nspawn runs."""
    made: list[str] = []
    monkeypatch.setattr(node, "make_cgroups", lambda name: made.append(name) or [])
    monkeypatch.setattr(node, "node_dir", lambda name: tmp_path)
    seen: dict[str, object] = {}

    class Started:
        pid = 4242

    def popen(argv, **kwargs):
        seen.update(kwargs)
        return Started()

    monkeypatch.setattr(node.subprocess, "Popen", popen)
    monkeypatch.setattr(node, "start_time", lambda pid: 1)
    assert node.start_container("w1", tmp_path, "kubeha-lab-w1") == (4242, 1)
    assert made == ["w1"] and callable(seen["preexec_fn"])
