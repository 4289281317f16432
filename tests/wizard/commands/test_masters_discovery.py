"""``kubeha masters add|remove|replace`` with discovery on: every node's agent follows the
cluster's Endpoints, so the command connects to no worker (and to no node but the one master
whose kubectl reads the Endpoints) and saves the profile once the new master is there; without
discovery it re-applies every node in one wave, one connection each. Counted with spies on
in-memory nodes: no network, no lab."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_node import FakeCluster, FakeNode
from wizard.agent.endpoints import BadEndpoints
from wizard.cli import main
from wizard.engine import master_endpoints
from wizard.engine.connector import SshConnector
from wizard.engine.model import Secrets
from wizard.engine.run_phases import agent_access
from wizard.engine.transport import CommandResult
from wizard.errors import CheckFailed
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile_io import parse_profile_text
from wizard.strategies import haproxy_keepalived

NODES = ("master1", "master2", "master3", "worker1", "worker2")
AGENT = "\n[agent]\nenabled = {discovery}\ndiscovery = {discovery}\n"


class FakeMaster(FakeNode):
    """A master with kubectl and an admin kubeconfig; its Endpoints name ``endpoints``."""

    endpoints: list[str]

    def sh(self, script, timeout=120) -> CommandResult:
        if "command -v kubectl" in script:
            self.log.append("sh kubectl usable")
            return CommandResult(("sh",), 0, "ok\n", "")
        return super().sh(script, timeout)

    def run(self, argv, timeout=120, stdin=None) -> CommandResult:
        argv = list(argv)
        if argv[:1] == ["kubectl"] and "endpoints" in argv:
            self.log.append(" ".join(argv))
            addresses = [{"ip": e.rsplit(":", 1)[0]} for e in self.endpoints]
            body = {
                "kind": "Endpoints",
                "subsets": [{"addresses": addresses, "ports": [{"name": "https", "port": 6443}]}],
            }
            return CommandResult(tuple(argv), 0, json.dumps(body), "")
        return super().run(argv, timeout, stdin)


def counted_cluster(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    discovery: bool,
    endpoints: list[str],
    example: str = "local-haproxy",
) -> tuple[Counter[str], Path, FakeCluster]:
    path = tmp_path / "mine.toml"
    text = (EXAMPLE_PROFILES_DIR / f"{example}.toml").read_text().replace("192.0.2.", "10.0.0.")
    path.write_text(text + AGENT.format(discovery=str(discovery).lower()))
    cluster = FakeCluster((*NODES, "master4"))
    for name in ("master1", "master2", "master3"):
        master = FakeMaster(name, label=name)
        master.endpoints = endpoints
        cluster.nodes[name] = master
    calls: Counter[str] = Counter()

    def connect(self: SshConnector, name: str) -> Callable[[], Any]:
        opener = cluster(name)

        def open_node() -> Any:
            calls[name] += 1
            return opener()

        return open_node

    monkeypatch.setattr(SshConnector, "__call__", connect)
    monkeypatch.setattr("wizard.engine.secrets_input.collect", lambda *a, **k: Secrets())
    return calls, path, cluster


def masters_of(path: Path) -> list[tuple[str, str]]:
    profile = parse_profile_text(path.read_text()).profile
    assert profile is not None
    return [(m.name, m.address) for m in profile.masters]


EVERY = ["10.0.0.11:6443", "10.0.0.12:6443", "10.0.0.13:6443", "10.0.0.14:6443"]


def test_replace_with_discovery_connects_to_no_worker(monkeypatch, tmp_path, capsys) -> None:
    calls, path, cluster = counted_cluster(monkeypatch, tmp_path, True, EVERY)
    code = main(
        ["masters", "replace", str(path), "--master", "master1", "--name", "master4",
         "--address", "10.0.0.14", "--ssh-host", "127.0.0.1", "--ssh-port", "2214", "--yes"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    # one connection, to a master that stays (never the one leaving, never the new one)
    assert calls == Counter({"master2": 1}), calls
    assert any("get endpoints kubernetes" in line for line in cluster.nodes["master2"].log)
    assert "no worker is connected to" in out and "10.0.0.14:6443 is in the Endpoints" in out
    assert masters_of(path) == [
        ("master4", "10.0.0.14"), ("master2", "10.0.0.12"), ("master3", "10.0.0.13")
    ]  # fmt: skip
    assert not any(cluster.nodes[w].log for w in ("worker1", "worker2"))
    saved = parse_profile_text(path.read_text()).profile
    assert saved is not None
    assert (saved.masters[0].ssh.host, saved.masters[0].ssh.port) == ("127.0.0.1", 2214)


def test_add_waits_for_the_endpoints_and_saves_nothing_without_them(
    monkeypatch, tmp_path, capsys
) -> None:
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY[:3])
    before = path.read_text()
    code = main(
        ["masters", "add", str(path), "--name", "master4", "--address", "10.0.0.14",
         "--timeout", "0.1", "--yes"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code != 0
    assert "10.0.0.14:6443 is not in the cluster's default/kubernetes Endpoints" in captured.err
    assert "The profile was not changed" in captured.err
    assert path.read_text() == before
    assert set(calls) == {"master1"}, calls


def test_remove_with_discovery_connects_to_one_master_and_says_it_is_still_named(
    monkeypatch, tmp_path, capsys
) -> None:
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY[:3])
    code = main(["masters", "remove", str(path), "--master", "master3", "--yes"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert calls == Counter({"master1": 1}), calls
    assert "10.0.0.13:6443 is still in the Endpoints" in out
    assert [n for n, _ in masters_of(path)] == ["master1", "master2"]


def test_a_dry_run_with_discovery_connects_to_nothing(monkeypatch, tmp_path, capsys) -> None:
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY)
    before = path.read_text()
    code = main(
        ["masters", "add", str(path), "--name", "master4", "--address", "10.0.0.14", "--dry-run"]
    )
    assert code == 0
    assert "nothing connected, nothing saved" in capsys.readouterr().out
    assert not calls and path.read_text() == before


def test_without_discovery_every_node_is_applied_once(monkeypatch, tmp_path, capsys) -> None:
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, False, EVERY)
    code = main(
        ["masters", "replace", str(path), "--master", "master1", "--name", "master4",
         "--address", "10.0.0.14", "--yes"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    # one wave: every node of the new profile, one connection each
    assert calls == Counter({n: 1 for n in ("master4", *NODES[1:])}), calls
    assert masters_of(path)[0] == ("master4", "10.0.0.14")


def test_haproxy_keepalived_on_the_masters_applies_the_masters_and_no_worker(
    monkeypatch, tmp_path, capsys
) -> None:
    """The masters carry haproxy, keepalived and the VIP, which no agent installs: the new
    master must get them, so the masters are applied; a worker's files name only the VIP."""
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY, "haproxy-keepalived")
    monkeypatch.setattr(agent_access, "_make", lambda run, kubectl: ([], b"token", b"ca"))
    monkeypatch.setattr(
        haproxy_keepalived, "holds_vip", lambda node, vip: getattr(node, "name", "") == "master2"
    )
    code = main(
        ["masters", "replace", str(path), "--master", "master1", "--name", "master4",
         "--address", "10.0.0.14", "--yes"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "the masters carry the load balancer" in out and "no worker is connected to" in out
    assert set(calls) == {"master2", "master3", "master4"}, calls
    assert masters_of(path)[0] == ("master4", "10.0.0.14")


def test_haproxy_keepalived_on_lb_nodes_follows_the_endpoints_alone(
    monkeypatch, tmp_path, capsys
) -> None:
    calls, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY, "haproxy-keepalived")
    text = path.read_text().replace('run_on = "masters"', 'run_on = "lb-nodes"')
    lb = '\n[[lb_nodes]]\nname = "lb1"\naddress = "10.0.0.31"\n'
    lb += '\n[[lb_nodes]]\nname = "lb2"\naddress = "10.0.0.32"\n'
    path.write_text(lb.join(text.split("\n[[workers]]", 1)).replace(lb, lb + "\n[[workers]]", 1))
    code = main(
        ["masters", "replace", str(path), "--master", "master1", "--name", "master4",
         "--address", "10.0.0.14", "--yes"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert calls == Counter({"master2": 1}), calls


def test_members_reads_the_https_port_of_every_subset() -> None:
    body = {
        "subsets": [
            {"addresses": [{"ip": "10.0.0.11"}, {"ip": "fd00::12"}],
             "ports": [{"name": "metrics", "port": 1}, {"name": "https", "port": 6443}]},
            {"addresses": [{"ip": "10.0.0.13"}], "ports": [{"port": 7443}]},
        ]
    }  # fmt: skip
    assert master_endpoints.members(body) == {
        "10.0.0.11:6443", "[fd00::12]:6443", "10.0.0.13:7443"
    }  # fmt: skip
    assert master_endpoints.members({"subsets": None}) == set()
    with pytest.raises(BadEndpoints, match="subsets\\[0\\]: 'junk': expected an object"):
        master_endpoints.members({"subsets": ["junk"]})
    with pytest.raises(BadEndpoints, match="expected 'Endpoints'"):
        master_endpoints.members("not a map")


def test_wait_until_named_returns_when_it_appears_and_names_what_was_there() -> None:
    now = [0.0]
    answers = iter([{"a:1"}, {"a:1"}, {"a:1", "b:1"}])

    def sleep(s: float) -> None:
        now[0] += s

    took = master_endpoints.wait_until_named(
        lambda: next(answers), "b:1", 10, lambda _: None, clock=lambda: now[0], sleep=sleep
    )
    assert took == 2.0
    with pytest.raises(CheckFailed, match=r"b:1 is not in .* \(they name a:1\)"):
        master_endpoints.wait_until_named(
            lambda: {"a:1"}, "b:1", 3, lambda _: None, clock=lambda: now[0], sleep=sleep
        )


def test_a_master_whose_kubectl_fails_gives_way_to_the_next(monkeypatch, tmp_path, capsys) -> None:
    calls, path, cluster = counted_cluster(monkeypatch, tmp_path, True, EVERY)
    broken = cluster.nodes["master2"]
    assert isinstance(broken, FakeMaster)

    def refused(argv, timeout=120, stdin=None) -> CommandResult:
        return CommandResult(tuple(argv), 1, "", "The connection to the server was refused")

    monkeypatch.setattr(broken, "run", refused)
    code = main(
        ["masters", "replace", str(path), "--master", "master1", "--name", "master4",
         "--address", "10.0.0.14", "--yes"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert calls == Counter({"master2": 1, "master3": 1}), calls


def test_json_with_discovery_is_one_masters_line(monkeypatch, tmp_path, capsys) -> None:
    _, path, _ = counted_cluster(monkeypatch, tmp_path, True, EVERY)
    code = main(
        ["masters", "add", str(path), "--name", "master4", "--address", "10.0.0.14",
         "--yes", "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (line,) = captured.out.splitlines()
    data = json.loads(line)
    assert data["kind"] == "masters" and data["schema_version"] == 1 and data["ok"]
    assert data["endpoint"] == "10.0.0.14:6443" and data["masters"][-1] == "master4"
