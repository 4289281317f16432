"""Run folders on the operator's machine: private whatever the umask (existing ones tightened),
the last N kept per profile (never the run ``--resume`` reads), and named in the summary."""

from __future__ import annotations

import os
import stat

import pytest

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
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
    """kubeha's own folders below the state folder (by their names) are tightened; the state
    folder itself is private already (see the KUBEHA_STATE_DIR tests below)."""
    old_run = runs_dir(profile.name) / "20200101-000000-00001"
    old_run.mkdir(parents=True, mode=0o755)
    os.chmod(state_dir(), 0o700)
    for path in (state_dir() / "runs", runs_dir(profile.name), old_run):
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


# --- KUBEHA_STATE_DIR: never chmod a folder kubeha did not make; a message, not a traceback ---


def test_a_shared_existing_state_folder_is_refused_and_left_alone(
    profile, cluster, tmp_path, monkeypatch
):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # /tmp's mode
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(shared))
    with pytest.raises(
        UsageError,
        match=r"KUBEHA_STATE_DIR=.*shared: an existing folder that "
        r"others can enter \(mode 1777\).*never changes the mode",
    ):
        apply(profile, cluster, dry_run=True)
    assert mode(shared) == 0o1777 and list(shared.iterdir()) == []
    assert all(not n.log for n in cluster.nodes.values())


def test_the_cli_names_a_state_folder_it_cannot_use(tmp_path, monkeypatch, capsys):
    from wizard.cli import main
    from wizard.paths import EXAMPLE_PROFILES_DIR

    path = tmp_path / "mine.toml"
    path.write_text(
        (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text().replace("192.0.2.", "10.0.0.")
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for value in ("/proc/kubeha-x", str(fifo), str(fifo / "below")):
        monkeypatch.setenv("KUBEHA_STATE_DIR", value)
        code = main(["apply", str(path), "--dry-run"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"KUBEHA_STATE_DIR={value}" in err and "expected a folder" in err, err
        assert "Traceback" not in err


def test_every_folder_made_is_private_under_umask_000(profile, cluster, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.delenv("KUBEHA_STATE_DIR")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    old = os.umask(0)
    try:
        summary = apply(profile, cluster)
    finally:
        os.umask(old)
    made = [home / ".local", home / ".local" / "state", state_dir()]
    made += [p for p in state_dir().rglob("*") if p.is_dir()]
    assert state_dir() == home / ".local" / "state" / "kubeha"
    assert {str(p): mode(p) for p in made} == {str(p): 0o700 for p in made}
    files = [p for p in state_dir().rglob("*") if p.is_file()]
    assert files and {mode(p) for p in files} == {0o600}
    assert summary.ok


def test_pinning_a_host_key_never_writes_into_a_shared_state_folder(tmp_path, monkeypatch):
    import paramiko

    from wizard.engine.hostkeys import pin

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(shared))
    with pytest.raises(UsageError, match=r"KUBEHA_STATE_DIR=.*never changes the mode"):
        pin("node1", paramiko.ECDSAKey.generate())
    assert list(shared.iterdir()) == [] and mode(shared) == 0o1777
