"""Run folders on the operator's machine: private whatever the umask (existing ones tightened),
the last N kept per profile (never the run ``--resume`` reads), and named in the summary."""

from __future__ import annotations

import os
import stat

import pytest

from tests.conftest import example_profile
from tests.fake_node import FakeCluster
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.report import summary_lines
from wizard.engine.runstate import last_run, runs_dir
from wizard.errors import UsageError
from wizard.paths import state_dir
from wizard.render import build_plan


@pytest.fixture
def profile():
    return example_profile("local-nginx")


@pytest.fixture
def cluster(profile):
    return FakeCluster([n.name for n in profile.all_nodes()])


@pytest.fixture
def loose_umask():
    old = os.umask(0o002)
    yield
    os.umask(old)


def apply(profile, cluster, **options):
    return run_apply(
        build_plan(profile),
        ApplyOptions(verify_timeout=0.5, **options),
        lambda e: None,
        connector=cluster,
    )


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("dry_run", [False, True])
def test_every_folder_and_file_of_a_run_is_private(profile, cluster, loose_umask, dry_run):
    summary = apply(profile, cluster, dry_run=dry_run)
    folder = summary.log_path.parent
    for path in (state_dir(), state_dir() / "runs", runs_dir(profile.name), folder):
        assert mode(path) == 0o700, path
    assert sorted(p.name for p in folder.iterdir()) == ["events.jsonl", "state.json"]
    for path in folder.iterdir():
        assert mode(path) == 0o600, path
    if not dry_run:
        assert mode(state_dir() / "locks") == 0o700
        assert {mode(p) for p in (state_dir() / "locks").iterdir()} == {0o600}


def test_existing_folders_and_files_are_tightened(profile, cluster, loose_umask):
    old_run = runs_dir(profile.name) / "20200101-000000-00001"
    old_run.mkdir(parents=True, mode=0o755)
    for path in (state_dir(), state_dir() / "runs", runs_dir(profile.name), old_run):
        os.chmod(path, 0o755)
    (old_run / "events.jsonl").write_text("{}\n")
    os.chmod(old_run / "events.jsonl", 0o644)
    apply(profile, cluster, dry_run=True)
    for path in (state_dir(), state_dir() / "runs", runs_dir(profile.name), old_run):
        assert mode(path) == 0o700, path
    assert mode(old_run / "events.jsonl") == 0o600


def test_only_the_last_runs_are_kept(profile, cluster, monkeypatch):
    monkeypatch.setenv("KUBEHA_KEEP_RUNS", "3")
    numbered_runs(monkeypatch)
    ids = [apply(profile, cluster, dry_run=True).run_id for _ in range(5)]
    assert sorted(p.name for p in runs_dir(profile.name).iterdir()) == ids[-3:]


def numbered_runs(monkeypatch) -> None:
    """Run ids one second apart (a run id names the second its run started in)."""
    seconds = iter(range(1, 60))
    monkeypatch.setattr(
        "wizard.engine.apply.new_run_id", lambda: f"20990101-0000{next(seconds):02d}-00001"
    )


def test_the_run_resume_needs_is_never_deleted(profile, cluster, monkeypatch):
    monkeypatch.setenv("KUBEHA_KEEP_RUNS", "2")
    numbered_runs(monkeypatch)
    cluster.nodes["worker2"].reject_marker = "kube_apiserver"
    unfinished = apply(profile, cluster)
    assert not unfinished.ok
    for _ in range(4):  # dry runs pile up after it
        apply(profile, cluster, dry_run=True)
    names = sorted(p.name for p in runs_dir(profile.name).iterdir())
    assert len(names) == 3 and unfinished.run_id in names
    assert last_run(profile.name).run_id == unfinished.run_id
    cluster.nodes["worker2"].reject_marker = None
    summary = apply(profile, cluster, resume=True)
    assert {n.node: n.state for n in summary.nodes} == {"worker2": NodeState.VERIFIED}


@pytest.mark.parametrize("value", ["0", "-1", "many", "2.5"])
def test_a_bad_keep_setting_is_refused_before_anything_runs(profile, cluster, monkeypatch, value):
    monkeypatch.setenv("KUBEHA_KEEP_RUNS", value)
    with pytest.raises(UsageError, match=r"KUBEHA_KEEP_RUNS: .* expected a whole number"):
        apply(profile, cluster)
    assert not runs_dir(profile.name).exists()
    assert all(not n.log for n in cluster.nodes.values())


def test_the_summary_names_the_run_folder(profile, cluster, monkeypatch):
    monkeypatch.setenv("KUBEHA_KEEP_RUNS", "7")
    summary = apply(profile, cluster)
    text = "\n".join(summary_lines(summary))
    assert f"Run folder: {summary.log_path.parent}" in text
    assert "the last 7 runs" in text
