"""``kubeha masters restart``: one master at a time, the next only once every node's balancer
has the last one back; never started while a master is out somewhere; stopped, naming the
nodes, when a master does not come back. On fakes of the fleet's reads and the restarts (the
agents' scrape is tested in tests/wizard/status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.cli import main
from wizard.engine.rolling_restart import not_up, rolling_restart
from wizard.errors import CheckFailed
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.status.fleet import MasterView, NodeStatus

MASTERS = [("m1", "10.0.0.11:6443"), ("m2", "10.0.0.12:6443"), ("m3", "10.0.0.13:6443")]


def status(node: str, down: set[str] = frozenset(), draining: set[str] = frozenset()) -> NodeStatus:
    views = tuple(
        MasterView(label, label not in down, 3, label in draining, 0, 1.0, 0.0)
        for _, label in MASTERS
    )
    return NodeStatus(node, balancer_up=True, generation=1, source="profile", masters=views)


class Fleet:
    """Two nodes; a restarted master is out for ``out_reads`` reads of the fleet, then back."""

    def __init__(self, out_reads: int = 2, never_back: str = "") -> None:
        self.out: dict[str, int] = {}
        self.out_reads = out_reads
        self.never_back = never_back
        self.restarted: list[str] = []

    def restart(self, name: str) -> str:
        self.restarted.append(name)
        self.out[dict(MASTERS)[name]] = self.out_reads
        return "unit"

    def read(self) -> list[NodeStatus]:
        down = {label for label, left in self.out.items() if left > 0}
        down |= {dict(MASTERS)[self.never_back]} if self.never_back in self.restarted else set()
        for label in list(self.out):
            self.out[label] -= 1
        return [status("w1", down), status("w2", draining=down)]


def run(fleet: Fleet, timeout: float = 30.0) -> list:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return rolling_restart(
        MASTERS, fleet.restart, fleet.read, timeout, lambda _: None, 1.0, lambda: now[0], sleep
    )


def test_each_master_in_turn_and_the_next_only_once_every_node_has_it_back() -> None:
    fleet = Fleet(out_reads=3)
    done = run(fleet)
    assert fleet.restarted == ["m1", "m2", "m3"]
    assert [d.master for d in done] == ["m1", "m2", "m3"]
    assert all(d.back_s >= 2.0 for d in done)  # waited while it was out on the nodes


def test_a_master_already_out_somewhere_stops_the_restart_before_anything() -> None:
    fleet = Fleet()
    fleet.read = lambda: [status("w1"), status("w2", down={"10.0.0.13:6443"})]  # type: ignore[method-assign]
    with pytest.raises(CheckFailed, match=r"not restarting m1: .*w2: 10\.0\.0\.13:6443 not up"):
        run(fleet)
    assert fleet.restarted == []


def test_a_node_whose_agent_does_not_answer_stops_it_too() -> None:
    assert not_up([NodeStatus("w9", error="http://10.0.0.29:9446/metrics: timed out")], ["x"]) == [
        "w9: http://10.0.0.29:9446/metrics: timed out"
    ]


def test_a_master_that_does_not_come_back_stops_there_and_names_the_nodes() -> None:
    fleet = Fleet(out_reads=1, never_back="m2")
    with pytest.raises(CheckFailed, match=r"m2 is not back on every node 30 s .*w1: .*w2: .*next"):
        run(fleet)
    assert fleet.restarted == ["m1", "m2"]  # m3 untouched


def test_the_command_dry_run_connects_to_nothing_and_names_a_wrong_master(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.toml"
    text = (EXAMPLE_PROFILES_DIR / "local-haproxy.toml").read_text()
    path.write_text(text.replace("192.0.2.", "10.0.0."))

    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run connected")

    monkeypatch.setattr("wizard.engine.sessions.NodeSessions.over_ssh", no_connection)
    assert main(["masters", "restart", str(path), "--dry-run", "--master", "master2"]) == 0
    out = capsys.readouterr().out
    assert "rolling restart of master2" in out and "nothing connected" in out
    assert main(["masters", "restart", str(path), "--dry-run", "--master", "m\x1b9"]) == 2
    err = capsys.readouterr().err
    assert "--master: 'm\\x1b9': expected one of master1, master2, master3" in err
