"""kubeha verify and the failover drill on the lab, strategy haproxy-keepalived (haproxy and
keepalived on the three masters, the VIP 10.77.0.100)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import section
from tests.engine.labkit import uninstall
from tests.verify.conftest import (
    BACK_WHILE_AWAY_S,
    LOADED_DRILL,
    SHUTDOWN_DELAY,
    deployed,
    drain_drill,
)
from wizard.cli import main
from wizard.commands.lab_drill import LabFault
from wizard.engine.drill import drill_rows
from wizard.engine.drill_run import run_drill
from wizard.engine.verify import format_table, run_verify
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def profile(lab):
    profile = deployed(lab, "haproxy-keepalived")
    yield profile
    uninstall(profile)


def show(report) -> str:
    return "\n".join(format_table(drill_rows(report)))


def holder(profile) -> str:
    [name] = [c.node for c in run_verify(profile).nodes if c.holds_vip]
    return name


def settled_holder(profile, deadline_s: float = 60) -> str:
    """The VIP holder once the VRRP election is over: after a cut heals, the old holder and
    the new one both claim the VIP until their adverts meet, and the VIP may move once more.
    One holder, the same over keepalived's master-down interval (3 adverts + 1 s), or fail."""
    window = 3 * section(profile, "haproxy_keepalived").advert_int + 1
    deadline = time.monotonic() + deadline_s
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        holders = [c.node for c in run_verify(profile).nodes if c.holds_vip]
        now = time.monotonic()
        current = holders[0] if len(holders) == 1 else None
        if current != seen:
            seen, since = current, now
        elif current is not None and now - since >= window:
            return current
        time.sleep(0.5)
    raise AssertionError(f"the VIP did not settle on one holder within {deadline_s} s: {seen}")


def test_verify_names_the_one_vip_holder(lab, profile, tmp_path, capsys):
    report = run_verify(profile)
    assert report.ok, report
    assert sum(1 for c in report.nodes if c.holds_vip) == 1
    assert {c.node for c in report.nodes if c.holds_vip is not None} == {"m1", "m2", "m3"}
    path = save_profile(profile, tmp_path / "lab.toml")
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "VIP" in out and out.count("holds") == 1


@pytest.mark.parametrize("kind", ["kill", "cut"])
def test_drill_on_a_master_without_the_vip(lab, profile, kind):
    vip_on = holder(profile)
    master = next(m.name for m in profile.masters if m.name != vip_on)
    report = run_drill(profile, master, kind, LOADED_DRILL, fault=LabFault(master, kind))
    print(f"\nhaproxy-keepalived drill {kind} {master} (VIP on {vip_on}):\n{show(report)}")
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed == 0, show(report)
        assert node.lost_in_flight <= 1, show(report)
        assert node.watch_back_s is not None and node.watch_back_s < BACK_WHILE_AWAY_S, show(report)
    assert report.ok, show(report)
    assert run_verify(profile).ok


def test_verify_fails_when_the_vip_holders_haproxy_is_stopped(lab, profile, tmp_path, capsys):
    vip_on = holder(profile)
    path = save_profile(profile, tmp_path / "lab.toml")
    lab.exec_in_node(vip_on, ["systemctl", "stop", "haproxy.service"])
    try:
        assert main(["verify", str(path)]) == 1
    finally:
        lab.exec_in_node(vip_on, ["systemctl", "start", "haproxy.service"])
    out = capsys.readouterr().out
    assert "verify failed on" in out
    # Every node goes through the VIP, so every node fails; the table shows where the VIP is.
    assert "FAILED" in out and vip_on in out


def test_drill_cutting_the_vip_holder(lab, profile):
    """The hard case: the node holding the VIP vanishes. keepalived moves the VIP within about
    3 x advert_int; a client that only reads (a watch) never learns, since its connection's
    peer is simply gone. Every node's kubeha-vip-follower sees the VIP change holder and
    closes that node's connections to VIP:port, so every watch is back within 3 s of the move."""
    vip_on = holder(profile)
    advert = section(profile, "haproxy_keepalived").advert_int
    report = run_drill(profile, vip_on, "cut", LOADED_DRILL, fault=LabFault(vip_on, "cut"))
    print(f"\nhaproxy-keepalived drill cut {vip_on} (the VIP holder):\n{show(report)}")
    # keepalived's master-down interval plus its skew, then the follower's close (3 s): the
    # VIP moved and every watch back while the holder is still away, on a loaded host too.
    assert 3 * advert + 1 + 3.0 < BACK_WHILE_AWAY_S
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed <= 1, show(report)
        assert node.watch_back_s is not None, show(report)
        assert node.watch_back_s < BACK_WHILE_AWAY_S, show(report)
    assert holder(profile) != vip_on or run_verify(profile).ok


def test_drill_drain_of_a_master_loses_nothing(lab, profile):
    """A graceful stop of a master without the VIP: haproxy's /readyz check takes it out of
    rotation while it still serves, the session cutter moves its watches, nothing fails."""
    vip_on = settled_holder(profile)  # a VIP still moving after an earlier drill would count
    master = next(m.name for m in profile.masters if m.name != vip_on)
    report, watches_left = drain_drill(lab, profile, master)
    print(
        f"\nhaproxy-keepalived drill drain {master}:\n{show(report)}\nwatches left: {watches_left}"
    )
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed == 0 and node.lost_in_flight == 0, show(report)
        assert node.watch_back_s is not None and node.watch_back_s < SHUTDOWN_DELAY, show(report)
    assert watches_left == 0, f"{watches_left} watch(es) still on {master} just before it closed"
