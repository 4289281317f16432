"""kubeha verify and the failover drills on the lab, once for every strategy of the registry that
runs in the nspawn nodes (local-nginx, haproxy-keepalived, local-haproxy today; ipvs needs an
IPVS kernel: its drills are tests/lab/failover/test_ipvs_qemu.py's).

What differs between strategies is asked of the strategy object (``has_vip_holder``: verify
names the VIP holder, a drill spares it, cutting it moves the VIP) or read from ``ON_THE_LAB``
below: a new strategy is drilled by its registry line, with every claim until its row says
otherwise.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.lab.failover.conftest import (
    BACK_WHILE_AWAY_S,
    LOADED_DRILL,
    SHUTDOWN_DELAY,
    deployed,
    drain_drill,
)
from tests.support.deadlines import on_loaded_host
from tests.support.examples import section
from tests.support.labkit import QEMU_ONLY, uninstall
from wizard.cli import main
from wizard.commands.lab_drill import LabFault, is_lab_profile
from wizard.engine.drill import drill_rows
from wizard.engine.drill_run import run_drill
from wizard.engine.verify import format_table, run_verify
from wizard.profile_io import save_profile
from wizard.strategies import registry

pytestmark = pytest.mark.lab


@dataclasses.dataclass(frozen=True)
class OnTheLab:
    """A strategy's balancer in the drills, beyond the claims every strategy meets. The
    defaults are the strictest: a row relaxes a claim only with its reason."""

    proxy_unit: str  # the unit that serves clients (on a node, or on the VIP holder)
    # kill/cut: no kept-alive request fails and that client is back while the master is away
    keepalive_back: bool = True
    # drain: no request fails and every watch is back before the master's listener closes
    drain_clean: bool = True
    # drain: no watch is left on the draining master just before its listener closes
    drain_moves_every_watch: bool = True
    # its own haproxy runs beside the distro's, which it leaves alone
    beside_the_distro_haproxy: bool = False


ON_THE_LAB = {
    # Open-source nginx has no active health check: on a drain it keeps opening connections on
    # the draining master, and one the kernel accepts as the listener closes is reset (see
    # test_drill_drain_loses_nothing). Its session cutter closes the streams that are idle on
    # the send side every interval; one opened in the last second ends cleanly at the close.
    # Kept-alive clients on a killed master are not claimed.
    "local-nginx": OnTheLab(
        "kube-nginx.service",
        keepalive_back=False,
        drain_clean=False,
        drain_moves_every_watch=False,
    ),
    # Its session cutter closes the watches on a draining master before its listener closes,
    # as haproxy-keepalived's does.
    "local-haproxy": OnTheLab("kube-haproxy.service", beside_the_distro_haproxy=True),
    # Kept-alive clients through the VIP are not claimed.
    "haproxy-keepalived": OnTheLab("haproxy.service", keepalive_back=False),
}


def row(strategy: str) -> OnTheLab:
    return ON_THE_LAB.get(strategy) or OnTheLab(proxy_unit="")


def strategies(*, vip: bool | None = None, **claims: bool) -> list:
    """Every registered strategy as a parameter of the ``profile`` fixture, those this test
    does not apply to left out (``vip``: only those with / without a VIP holder; ``claims``:
    only those whose ``ON_THE_LAB`` row says so); a strategy the nspawn nodes cannot run is
    kept as a skipped parameter that says where it is tested."""
    params = []
    for strategy in registry.strategies():
        if vip is not None and strategy.has_vip_holder != vip:
            continue
        if any(getattr(row(strategy.key), name) != want for name, want in claims.items()):
            continue
        marks = (
            [pytest.mark.skip(reason=QEMU_ONLY[strategy.key])] if strategy.key in QEMU_ONLY else []
        )
        params.append(pytest.param(strategy.key, marks=marks, id=strategy.key))
    return params


def on(**selection):
    """``@on(...)``: the test runs once per strategy ``strategies(**selection)`` gives."""
    return pytest.mark.parametrize("profile", strategies(**selection), indirect=True)


@pytest.fixture(scope="module")
def profile(request, lab):
    profile = deployed(lab, request.param)
    yield profile
    uninstall(profile)


def has_vip(profile) -> bool:
    return registry.get(profile.strategy).has_vip_holder


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


@on(vip=False)
def test_verify_every_node_reaches_a_master(lab, profile, tmp_path, capsys):
    report = run_verify(profile)
    assert report.ok, report
    assert [c.node for c in report.nodes] == ["m1", "m2", "m3", "w1", "w2"]
    assert {c.master for c in report.nodes} <= {"m1", "m2", "m3"}
    assert all(c.status == "200" and 0 < c.seconds < 2 for c in report.nodes)
    path = save_profile(profile, tmp_path / "lab.toml")
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "every node (5) reaches a ready apiserver" in out
    assert out.count(" ok ") >= 5


@on(vip=True)
def test_verify_names_the_one_vip_holder(lab, profile, tmp_path, capsys):
    report = run_verify(profile)
    assert report.ok, report
    assert sum(1 for c in report.nodes if c.holds_vip) == 1
    assert {c.node for c in report.nodes if c.holds_vip is not None} == {"m1", "m2", "m3"}
    path = save_profile(profile, tmp_path / "lab.toml")
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "VIP" in out and out.count("holds") == 1


@on()
def test_the_lab_is_recognised(lab, profile):
    assert is_lab_profile(profile)


@on(beside_the_distro_haproxy=True)
def test_the_session_cutter_runs_and_the_distro_haproxy_is_untouched(lab, profile):
    for node in ("m1", "w1"):
        state = lab.exec_in_node(
            node,
            ["sh", "-c", "systemctl is-active kubeha-session-cutter.service haproxy.service"],
        ).stdout.split()
        assert state == ["active", "inactive"], (node, state)
        users = lab.exec_in_node(node, ["ps", "-o", "user=", "-C", "haproxy"]).stdout.split()
        assert "haproxy" in users, users  # the workers dropped root


@pytest.mark.parametrize("kind", ["kill", "cut"])
@on()
def test_drill_loses_no_request_and_watches_come_back(lab, profile, kind):
    """m2 killed or cut off (with a VIP: a master that does not hold it)."""
    vip_on = holder(profile) if has_vip(profile) else None
    master = "m2" if vip_on is None else next(m.name for m in profile.masters if m.name != vip_on)
    expect = row(profile.strategy)
    report = run_drill(profile, master, kind, LOADED_DRILL, fault=LabFault(master, kind))
    print(f"\n{profile.strategy} drill {kind} {master} (VIP on {vip_on}):\n{show(report)}")
    assert report.lab and len(report.nodes) == (5 if kind == "kill" else 4)
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed == 0, show(report)
        assert node.lost_in_flight <= 1, show(report)
        assert node.watches >= 1, show(report)
        assert node.watch_back_s is not None and node.watch_back_s < BACK_WHILE_AWAY_S, show(report)
        if expect.keepalive_back:
            assert node.ka_failed == 0, show(report)
            assert node.ka_back_s < BACK_WHILE_AWAY_S, show(report)
    assert report.ok, show(report)
    assert run_verify(profile).ok


@on()
def test_verify_fails_naming_where_the_proxy_is_stopped(lab, profile, tmp_path, capsys):
    """The balancer stopped on w1 (with a VIP: on its holder, so every node fails through the
    VIP and the table shows where the VIP is)."""
    unit = row(profile.strategy).proxy_unit
    assert unit, f"ON_THE_LAB has no row for {profile.strategy}: name the unit that serves"
    vip = has_vip(profile)
    where = holder(profile) if vip else "w1"
    path = save_profile(profile, tmp_path / "lab.toml")
    lab.exec_in_node(where, ["systemctl", "stop", unit])
    try:
        assert main(["verify", str(path)]) == 1
    finally:
        lab.exec_in_node(where, ["systemctl", "start", unit])
    out = capsys.readouterr().out
    assert "verify failed on" in out
    assert "FAILED" in out and where in out
    if not vip:
        assert "verify failed on w1" in out
        [line] = [line for line in out.splitlines() if line.startswith("w1 ")]
        assert "FAILED" in line and "curl exit 7" in line
        assert run_verify(profile).ok


@on(vip=True)
def test_drill_cutting_the_vip_holder(lab, profile):
    """The hard case: the node holding the VIP vanishes. keepalived moves the VIP within about
    3 x advert_int; a client that only reads (a watch) never learns, since its connection's
    peer is simply gone. Every node's kubeha-vip-follower sees the VIP change holder and
    closes that node's connections to VIP:port, so every watch is back within 3 s of the move."""
    vip_on = holder(profile)
    advert = section(profile, "haproxy_keepalived").advert_int
    report = run_drill(profile, vip_on, "cut", LOADED_DRILL, fault=LabFault(vip_on, "cut"))
    print(f"\n{profile.strategy} drill cut {vip_on} (the VIP holder):\n{show(report)}")
    # keepalived's master-down interval plus its skew, then the follower's close (3 s): the
    # VIP moved and every watch back while the holder is still away, on a loaded host too.
    assert 3 * advert + 1 + 3.0 < BACK_WHILE_AWAY_S
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.failed <= 1, show(report)
        assert node.watch_back_s is not None, show(report)
        assert node.watch_back_s < BACK_WHILE_AWAY_S, show(report)
    assert holder(profile) != vip_on or run_verify(profile).ok


@on()
def test_drill_drain_loses_nothing(lab, profile):
    """A graceful stop of m2 (with a VIP: a master that does not hold it): /readyz fails while
    requests are still served, then the listener closes. No watch goes silent, no kept-alive
    request fails. haproxy's /readyz check takes the draining master out of rotation while it
    still serves, so no request fails and every watch is back before the close. Open-source
    nginx, with no active health check, keeps opening new connections on the draining master,
    and one the kernel accepted in the very moment the listener closes is reset after nginx
    sent the request (seen: 0 to 2 per drill, all at the close): only that race may fail a
    request. The session cutter (every strategy here) closes the streams on the
    draining master (those idle on the send side) every interval."""
    vip = has_vip(profile)
    # A VIP still moving after an earlier drill would count: wait until it settled.
    master = "m2"
    if vip:
        vip_on = settled_holder(profile)
        master = next(m.name for m in profile.masters if m.name != vip_on)
    expect = row(profile.strategy)
    report, watches_left = drain_drill(lab, profile, master)
    print(
        f"\n{profile.strategy} drill drain {master}:\n{show(report)}\n"
        f"watches left on {master}: {watches_left}"
    )
    for node in report.nodes:
        assert node.error == "" and node.requests >= 20, node
        assert node.lost_in_flight == 0, show(report)
        assert node.watches_interrupted == 0, show(report)
        assert node.ka_failed + node.ka_lost_in_flight == 0, show(report)
        if expect.drain_clean:
            assert node.failed == 0, show(report)
            assert node.watch_back_s is not None, show(report)
            assert node.watch_back_s < SHUTDOWN_DELAY, show(report)
        elif node.failed:  # only at the listener's close, SHUTDOWN_DELAY after the drain
            # began (within 1.5 s of it on a quiet host), never before it
            assert SHUTDOWN_DELAY <= node.recovered_s <= on_loaded_host(SHUTDOWN_DELAY + 1.5)
    assert watches_left is not None
    if expect.drain_moves_every_watch:
        assert watches_left == 0, f"{watches_left} watch(es) still on {master} before it closed"


LAB_CA = "/etc/kubeha-lab/ca.crt"  # every lab node has the lab CA here


@on()
def test_verify_checks_the_certificate_against_the_cluster_ca(lab, profile, tmp_path, capsys):
    report = run_verify(profile, ca_file=LAB_CA)
    assert report.ok, report
    assert report.ca_file == LAB_CA and all(c.ca_file == LAB_CA for c in report.nodes)
    path = save_profile(profile, tmp_path / "lab.toml")
    assert main(["verify", str(path), "--ca-file", LAB_CA]) == 0
    assert f"certificates checked against {LAB_CA}" in capsys.readouterr().out
    assert main(["verify", str(path)]) == 0
    assert "certificate not checked" in capsys.readouterr().out


@on()
def test_verify_refuses_a_certificate_another_ca_signed(lab, profile):
    """A CA that did not sign the apiservers' certificates: every node fails, curl 60 named."""
    from cryptography.hazmat.primitives import serialization

    from tests.wizard.retrofit.test_cert_preflight import _ca

    _, other = _ca("not-the-cluster-ca")
    pem = other.public_bytes(serialization.Encoding.PEM).decode()
    for node in ("m1", "m2", "m3", "w1", "w2"):
        lab.exec_in_node(node, ["sh", "-c", 'printf %s "$0" > /tmp/other-ca.crt', pem], check=True)
    try:
        report = run_verify(profile, ca_file="/tmp/other-ca.crt")
        assert not report.ok
        assert all(not c.ok and "curl 60" in c.detail for c in report.nodes), report
    finally:
        for node in ("m1", "m2", "m3", "w1", "w2"):
            lab.exec_in_node(node, ["rm", "-f", "/tmp/other-ca.crt"])
