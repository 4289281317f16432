"""How a command ends when the operator stops it or stops reading: Ctrl-C exits 130 (the
README's table) from every command, a closed pipe ends it quietly; ``--only`` never swallows
the profile; a profile with thousands of problems prints a bounded list."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.fake_node import FakeCluster
from wizard.cli import main
from wizard.errors import EXIT_INTERRUPTED
from wizard.paths import EXAMPLE_PROFILES_DIR

EXAMPLE = EXAMPLE_PROFILES_DIR / "local-nginx.toml"


@pytest.fixture
def profile(tmp_path) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(EXAMPLE.read_text().replace("192.0.2.", "10.0.0."))
    return path


@pytest.fixture
def slow_cluster(monkeypatch, profile):
    """Fake nodes that take their time, so a Ctrl-C lands while they run."""
    import wizard.engine.apply as engine_apply
    import wizard.engine.secrets_input
    from wizard.engine.model import Secrets
    from wizard.profile_io import load_profile

    fake = FakeCluster([n.name for n in load_profile(profile).all_nodes()])
    for node in fake.nodes.values():
        node.delay = 0.05
    fake.on_open = lambda name: None
    fake.cancels = []  # each run's cancel flag, for a test that must see its Ctrl-C land

    import wizard.engine.run_phases.nodes as run_nodes

    real_run_pool = run_nodes.run_pool

    def run_pool(jobs, options, cancel, *rest, **kw):
        fake.cancels.append(cancel)
        return real_run_pool(jobs, options, cancel, *rest, **kw)

    monkeypatch.setattr(run_nodes, "run_pool", run_pool)

    def connector(name):
        def open_node():
            fake.on_open(name)
            return fake(name)()

        return open_node

    real_apply, real_uninstall = engine_apply.run_apply, engine_apply.run_uninstall
    monkeypatch.setattr(
        engine_apply, "run_apply", lambda *a, **k: real_apply(*a, **k, connector=connector)
    )
    monkeypatch.setattr(
        engine_apply,
        "run_uninstall",
        lambda *a, **k: real_uninstall(*a, **k, connector=connector),
    )
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    return fake


@pytest.mark.parametrize(
    "argv", [["apply", "--yes"], ["apply", "--dry-run"], ["uninstall", "--yes"]]
)
def test_ctrl_c_during_a_run_exits_130(argv, profile, slow_cluster, capsys):
    """The operator presses Ctrl-C as the first node job connects (the engine's pool catches
    it, lets each node finish or roll back its step): the command still exits 130."""
    pressed = threading.Event()

    def press(name):
        in_a_node_job = threading.current_thread().name.startswith("kubeha-node")
        if in_a_node_job and not pressed.is_set():
            pressed.set()
            os.kill(os.getpid(), signal.SIGINT)

    slow_cluster.on_open = press
    code = main([argv[0], str(profile), *argv[1:], "--concurrency", "1"])
    assert pressed.is_set()
    captured = capsys.readouterr()
    err = captured.err
    assert code == EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    # the pool cancelled the nodes and waited for them; the summary still says what happened
    assert "cancelled" in captured.out and "Run log:" in captured.out, captured.out


def _pipe_closed_early(*args: str) -> subprocess.CompletedProcess[str]:
    """``kubeha ARGS | true``: the reader is gone before kubeha writes."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "wizard", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ("validate", str(EXAMPLE)),
        ("render", str(EXAMPLE), "--out", "{out}"),
        ("apply", str(EXAMPLE), "--dry-run"),  # refused (example addresses): stderr, exit 2
        ("--help",),
        ("lab", "--help"),
    ],
)
def test_a_closed_pipe_ends_quietly(args, tmp_path):
    result = _pipe_closed_early(*(a.format(out=tmp_path / "out") for a in args))
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
    assert result.returncode in (0, 2), result


def test_only_takes_one_node_per_flag_and_leaves_the_profile(monkeypatch, profile, capsys):
    seen = {}

    def fake_apply(plan, options, sink, **kwargs):
        seen["only"] = options.only
        raise SystemExit(0)

    import wizard.engine.apply as engine_apply
    import wizard.engine.secrets_input
    from wizard.engine.model import Secrets

    monkeypatch.setattr(engine_apply, "run_apply", fake_apply)
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    for argv, only in [
        (["--only", "master1", str(profile)], ("master1",)),
        ([str(profile), "--only", "master1"], ("master1",)),
        (["--only", "master1", "--only", "worker1", str(profile)], ("master1", "worker1")),
        (["--only", "master1,worker2", str(profile)], ("master1", "worker2")),
    ]:
        with pytest.raises(SystemExit):
            main(["apply", "--dry-run", *argv])
        assert seen.pop("only") == only, argv
    with pytest.raises(SystemExit) as caught:
        main(["apply", str(profile), "--only", "master1", "master2"])
    assert caught.value.code == 2
    assert "repeat it" in capsys.readouterr().err


def test_thousands_of_problems_print_a_bounded_list(tmp_path, capsys):
    lines = "\n".join(f'"bad path {i}",' for i in range(10_000))
    text = EXAMPLE.read_text() + f"\n[clients]\nkubeconfigs = [\n{lines}\n]\n"
    path = tmp_path / "many.toml"
    path.write_text(text)
    for argv in (["validate", str(path)], ["render", str(path), "--out", str(tmp_path / "o")]):
        code = main(argv)
        captured = capsys.readouterr()
        output = captured.out + captured.err
        assert code == 1, output
        assert len(output) < 20_000, len(output)
        assert "more problem(s)" in output


def test_a_dry_run_of_a_source_build_downloads_nothing_and_shows_every_diff(
    profile, slow_cluster, tmp_path, monkeypatch, capsys
):
    """``[install] method = "source"`` with a pinned version: the dry run runs no apt-get (a
    stand-in on PATH records any call), says what it would build, and shows every node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "called"
    for name in ("apt-get", "dpkg-source"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho {name} "$@" >> {called}\nexit 100\n')
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("KUBEHA_CACHE_DIR", str(tmp_path / "cache"))
    text = profile.read_text()
    assert 'method = "package"' in text
    profile.write_text(
        text.replace(
            'method = "package"',
            'method = "source"\nsource_package_version = "1.22.1-9+deb12u9"',
        )
    )
    for node in slow_cluster.nodes.values():
        node.delay = 0
    code = main(["apply", str(profile), "--dry-run"])
    out = capsys.readouterr().out
    assert not called.exists(), called.read_text()
    assert not (tmp_path / "cache").exists()
    assert "would build kube-nginx 1.22.1-9+deb12u9 from source on local" in out, out
    for name in slow_cluster.nodes:
        assert f"=== {name}" in out, out
    assert code == 0, out


def test_ctrl_c_during_render_and_verify_exits_130(profile, tmp_path, monkeypatch, capsys):
    """render puts the folder back as it was; verify has nothing to undo: both exit 130."""
    import wizard.engine.secrets_input
    import wizard.engine.verify
    from wizard import render_out
    from wizard.engine.model import Secrets

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render_out._Swap, "commit", pressed)
    out = tmp_path / "out"
    assert main(["render", str(profile), "--out", str(out)]) == EXIT_INTERRUPTED
    assert not out.exists()
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    monkeypatch.setattr(wizard.engine.verify, "run_verify", pressed)
    assert main(["verify", str(profile)]) == EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
