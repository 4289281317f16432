"""``kubeha verify --drill`` works from the plan the command built: the profile validated once,
rendered once, and one SSH connection per node for the whole command (verify, then the drill
on the same connections). Counted with spies on in-memory nodes: no network, no lab."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wizard.commands.loading
import wizard.validation
from tests.support.fake_node import FakeCluster
from wizard.cli import main
from wizard.engine import drill_run
from wizard.engine.connector import SshConnector
from wizard.engine.model import Secrets
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.strategies import registry

NODES = ("master1", "master2", "master3", "worker1", "worker2")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Counter[str], str]:
    """The example local-haproxy profile with addresses of its own, and a counter of every
    validation, rendering and SSH connection a command makes (the nodes are in memory)."""
    path = tmp_path / "mine.toml"
    text = (EXAMPLE_PROFILES_DIR / "local-haproxy.toml").read_text()
    path.write_text(text.replace("192.0.2.", "10.0.0."))
    calls: Counter[str] = Counter()
    validate = wizard.validation.validate

    def validating(*args: Any, **kwargs: Any) -> Any:
        calls["validate"] += 1
        return validate(*args, **kwargs)

    monkeypatch.setattr(wizard.validation, "validate", validating)
    monkeypatch.setattr(wizard.commands.loading, "validate", validating)
    strategy = type(registry.get("local-haproxy"))
    render = strategy.plan

    def rendering(self: Any, profile: Any) -> Any:
        calls["render"] += 1
        return render(self, profile)

    monkeypatch.setattr(strategy, "plan", rendering)
    cluster = FakeCluster(NODES)

    def connect(self: SshConnector, name: str) -> Callable[[], Any]:
        opener = cluster(name)

        def open_node() -> Any:
            calls[f"ssh {name}"] += 1
            return opener()

        return open_node

    monkeypatch.setattr(SshConnector, "__call__", connect)
    monkeypatch.setattr("wizard.engine.secrets_input.collect", lambda *a, **k: Secrets())
    monkeypatch.setattr("wizard.commands.lab_drill.is_lab_profile", lambda profile: False)

    def loops(runners: dict[str, Any], url_for: Any, fault: Any, timing: Any, wall_clock: bool):
        for name, run in runners.items():
            run(f"echo {url_for(name)}", 5)  # each client's loop runs on its connection
        fault.take()
        fault.restore()
        return [], []

    monkeypatch.setattr(drill_run, "run_loops", loops)
    return calls, str(path)


def test_verify_and_the_drill_validate_render_and_connect_once(counted, capsys) -> None:
    calls, path = counted
    main(["verify", path, "--drill", "--master", "master1", "--confirm-master", "master1"])
    out = capsys.readouterr().out
    assert "drill on the cluster: kill master1" in out, out
    assert calls["validate"] == 1
    assert calls["render"] == 1
    assert {name: calls[f"ssh {name}"] for name in NODES} == dict.fromkeys(NODES, 1)


def test_verify_alone_validates_renders_and_connects_once(counted, capsys) -> None:
    calls, path = counted
    assert main(["verify", path]) == 0, capsys.readouterr()
    assert (calls["validate"], calls["render"]) == (1, 1)
    assert {name: calls[f"ssh {name}"] for name in NODES} == dict.fromkeys(NODES, 1)
