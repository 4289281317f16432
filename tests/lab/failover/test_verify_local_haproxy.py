"""kubeha verify and the failover drill on the lab, strategy local-haproxy: haproxy's own /readyz
checks, redispatch and TCP keepalive with a user timeout, no session cutter beside it."""

from __future__ import annotations

import pytest

from tests.lab.failover.conftest import (
    BACK_WHILE_AWAY_S,
    LOADED_DRILL,
    SHUTDOWN_DELAY,
    deployed,
    drain_drill,
)
from tests.support.labkit import uninstall
from wizard.cli import main
from wizard.commands.lab_drill import LabFault, is_lab_profile
from wizard.engine.drill import drill_rows
from wizard.engine.drill_run import run_drill
from wizard.engine.verify import format_table, run_verify
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def profile(lab):
    profile = deployed(lab, "local-haproxy")
    yield profile
    uninstall(profile)


def show(report) -> str:
    return "\n".join(format_table(drill_rows(report)))


def test_verify_every_node_reaches_a_master(lab, profile, tmp_path, capsys):
    report = run_verify(profile)
    assert report.ok, report
    assert [c.node for c in report.nodes] == ["m1", "m2", "m3", "w1", "w2"]
    assert {c.master for c in report.nodes} <= {"m1", "m2", "m3"}
    assert all(c.status == "200" and 0 < c.seconds < 2 for c in report.nodes)
    assert is_lab_profile(profile)
    path = save_profile(profile, tmp_path / "lab.toml")
    assert main(["verify", str(path)]) == 0
    assert "every node (5) reaches a ready apiserver" in capsys.readouterr().out


def test_no_session_cutter_and_the_distro_haproxy_untouched(lab, profile):
    for node in ("m1", "w1"):
        state = lab.exec_in_node(
            node,
            ["sh", "-c", "systemctl is-active kubeha-session-cutter.service haproxy.service"],
        ).stdout.split()
        assert state == ["inactive", "inactive"], (node, state)
        users = lab.exec_in_node(node, ["ps", "-o", "user=", "-C", "haproxy"]).stdout.split()
        assert "haproxy" in users, users  # the workers dropped root


@pytest.mark.parametrize("kind", ["kill", "cut"])
def test_drill_fails_no_request_and_every_client_comes_back(lab, profile, kind):
    report = run_drill(profile, "m2", kind, LOADED_DRILL, fault=LabFault("m2", kind))
    print(f"\nlocal-haproxy drill {kind} m2:\n{show(report)}")
    assert report.lab and len(report.nodes) == (5 if kind == "kill" else 4)
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed == 0, show(report)
        assert node.lost_in_flight <= 1, show(report)
        assert node.watches >= 1, show(report)
        assert node.watch_back_s is not None and node.watch_back_s < BACK_WHILE_AWAY_S, show(report)
        assert node.ka_failed == 0, show(report)
        assert node.ka_back_s < BACK_WHILE_AWAY_S, show(report)
    assert report.ok, show(report)


def test_drill_drain_loses_nothing(lab, profile):
    """A graceful stop: haproxy's check takes the draining master out of rotation while it
    still serves, so no request fails; its watches stay on it until its listener closes, and
    their clients re-open them at once (no watch goes silent)."""
    report, watches_left = drain_drill(lab, profile, "m2")
    print(f"\nlocal-haproxy drill drain m2:\n{show(report)}\nwatches left on m2: {watches_left}")
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed == 0 and node.lost_in_flight == 0, show(report)
        assert node.watches_interrupted == 0, show(report)
        assert node.watch_back_s is not None and node.watch_back_s < SHUTDOWN_DELAY, show(report)
        assert node.ka_failed + node.ka_lost_in_flight == 0, show(report)
    assert watches_left is not None


def test_verify_fails_naming_the_node_whose_proxy_is_stopped(lab, profile, tmp_path, capsys):
    path = save_profile(profile, tmp_path / "lab.toml")
    lab.exec_in_node("w1", ["systemctl", "stop", "kube-haproxy.service"])
    try:
        assert main(["verify", str(path)]) == 1
    finally:
        lab.exec_in_node("w1", ["systemctl", "start", "kube-haproxy.service"])
    out = capsys.readouterr().out
    assert "verify failed on w1" in out
    [row] = [line for line in out.splitlines() if line.startswith("w1 ")]
    assert "FAILED" in row and "curl exit 7" in row
    assert run_verify(profile).ok
