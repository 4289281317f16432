"""kubeha apply on the lab, strategy local-haproxy: deploy beside the distro's haproxy, re-apply,
a port change by reload, rollback and uninstall, on real systemd-nspawn nodes.

The tests run in order and build on each other (one lab, one profile history).
"""

from __future__ import annotations

import pytest

from tests.support.labkit import (
    active_since,
    apply,
    clean_base,
    masters_seen,
    snapshot,
    states,
    uninstall,
    with_section,
)
from tests.support.loadloop import loops_on
from wizard.cli import main
from wizard.engine.model import NodeState
from wizard.engine.work import ApplyWork
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab

CONF = "/etc/kube-haproxy/haproxy.cfg"
UNIT = "kube-haproxy.service"
BEFORE: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def base(lab):
    yield from clean_base(lab, "local-haproxy", BEFORE, folders=True)


def distro_haproxy(snapshot_text: str) -> list[str]:
    return [
        line
        for line in snapshot_text.splitlines()
        if line.startswith(("/etc/haproxy/haproxy.cfg ", "haproxy.service "))
    ]


def port(profile, number):
    return with_section(profile, "local_haproxy", listen_port=number)


def test_apply_verifies_every_node_and_every_master_gets_traffic(lab, base):
    summary, recorder = apply(base)
    assert summary.ok, recorder.text()
    assert set(states(summary).values()) == {"verified"}
    results = loops_on(lab, [n.name for n in lab.nodes], "https://127.0.0.1:8443/readyz", 9, 0.05)
    assert all(r.failed == 0 for r in results.values()), [str(r) for r in results.values()]
    assert masters_seen(results) == {"m1", "m2", "m3"}
    # Its own config beside the distro's: /etc/haproxy/haproxy.cfg and haproxy.service untouched.
    now = snapshot(lab)
    for node in lab.nodes:
        assert distro_haproxy(now[node.name]) == distro_haproxy(BEFORE["nodes"][node.name])


def test_reapply_unchanged_writes_and_restarts_nothing(lab, base, tmp_path, capsys):
    def seen():
        return {
            n.name: (
                active_since(lab, n.name, UNIT),
                lab.exec_in_node(n.name, ["stat", "-c", "%Y", CONF]).stdout,
            )
            for n in lab.nodes
        }

    before = seen()
    path = save_profile(base, tmp_path / "lab.toml")
    assert main(["apply", str(path), "--yes"]) == 0
    assert capsys.readouterr().out.count("already up to date; nothing written or restarted") == 5
    assert seen() == before


def test_port_change_reloads_without_losing_a_request(lab, base):
    """A changed config is a reload (haproxy's master starts a new worker), not a restart; the
    old worker keeps serving what it has while the new one takes the new port."""
    pid_before = active_since(lab, "w1", UNIT).split("MainPID=")[1].split()[0]
    summary, recorder = apply(port(base, 8444))
    assert summary.ok, recorder.text()
    for result in summary.nodes:
        assert result.state is NodeState.VERIFIED
        assert result.changed_files == (CONF,)
        assert result.reloaded == (UNIT,) and result.restarted == ()
    assert active_since(lab, "w1", UNIT).split("MainPID=")[1].split()[0] == pid_before
    results = loops_on(lab, ["w1"], "https://127.0.0.1:8444/readyz", 3, 0.05)
    assert results["w1"].failed == 0


def test_failed_verify_rolls_back_to_the_serving_config(lab, base, monkeypatch):
    """A new config that does not serve once in place (its verify fails) is rolled back and the
    previous one serves again. The failure is the test's (the new port's probe answers 503):
    a real cause seen earlier, a check path every master refuses, is now stopped before any
    change by the auth preflight (the next test)."""
    real = ApplyWork.probe_once

    def new_config_fails(self, url, timeout=3.0):
        if url == self.plan.verify_url:
            return False, True, f"{url}: 503 (the test's failing verify)"
        return real(self, url, timeout)

    monkeypatch.setattr(ApplyWork, "probe_once", new_config_fails)
    summary, recorder = apply(port(base, 8446), only=("w1",), verify_timeout=3)
    [result] = summary.nodes
    assert result.state is NodeState.ROLLED_BACK, recorder.text()
    assert "serving again" in result.rollback, recorder.text()
    conf = lab.exec_in_node("w1", ["cat", CONF]).stdout
    assert "bind 127.0.0.1:8444" in conf
    assert loops_on(lab, ["w1"], "https://127.0.0.1:8444/readyz", 3, 0.05)["w1"].failed == 0


def test_a_check_path_every_master_refuses_stops_the_run_before_any_change(lab, base):
    before = lab.exec_in_node("w1", ["cat", CONF]).stdout
    broken = with_section(port(base, 8446), "health_check", path="/not-a-health-endpoint")
    summary, recorder = apply(broken, only=("w1",), verify_timeout=3)
    assert not summary.ok, recorder.text()
    assert "every master fails the check" in recorder.text(), recorder.text()
    assert all(r.state is not NodeState.ROLLED_BACK for r in summary.nodes), recorder.text()
    assert lab.exec_in_node("w1", ["cat", CONF]).stdout == before


def test_uninstall_leaves_the_nodes_as_before(lab, base):
    summary = uninstall(base)
    assert summary.ok and set(states(summary).values()) == {"removed"}
    assert snapshot(lab, folders=True) == BEFORE["nodes"]  # the folders kubeha made gone too
