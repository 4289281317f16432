"""The ipvs strategy on IPv6: a dual-stack lab (``lab up --ipv6``) with a QEMU IPVS node (q1,
fd77::41) and its ``lab-ipvs-ipv6`` profile: the VIP fd77:97::2, the nspawn masters' IPv6
addresses as real servers. Apply on q1 verifies (the settle check finds ``[fd77::1x]:6443``),
requests through the VIP and the API name answer (local connections leave from the node's
address, not the VIP), and the checker takes a killed and a cut master out and back."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.lab.failover.test_ipvs_qemu import FALL, RISE, Timing, on_q1, probe_round_seconds
from tests.support.deadlines import on_loaded_host
from tests.support.examples import section
from tests.support.lab_fixture import LAB_SHAPE
from tests.support.lab_shapes import DUAL_STACK, found_dual_stack, last_dual_stack
from tests.support.labkit import Recorder
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions
from wizard.lab import down, qemu, up
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan

pytestmark = pytest.mark.lab

VIP_URL = "https://[fd77:97::2]:6443"


def _log(line: str) -> None:
    print(f"[lab] {line}")


LAB_KIND = DUAL_STACK  # tests/support/lab_shapes.py: the dual-stack modules share one lab


@pytest.fixture(scope="module")
def q1(lab, request):
    """q1 in the session's lab made dual-stack (given back IPv4-only after the last
    dual-stack module)."""
    was_ipv6 = found_dual_stack(request, lab.state.ipv6)
    up(*LAB_SHAPE, replace=True, ipv6=True, log=_log)
    lab.refresh()
    guests = qemu.ensure_guests(1, log=_log)
    try:
        yield guests[0]
    finally:
        for master in lab.masters:
            with contextlib.suppress(Exception):
                lab.restore(master.name)
        qemu.remove_guests(log=_log)
        if last_dual_stack(request) and not was_ipv6:
            down(log=_log)
            up(*LAB_SHAPE, log=_log)
            lab.refresh()


@pytest.fixture(scope="module")
def profile(lab, q1):
    timing = Timing.from_round(probe_round_seconds(q1, [m.address6 for m in lab.masters]))
    data = qemu.ipvs_profile(lab.state, [q1], ipv6=True)
    data["health_check"] = {
        "interval": timing.interval,
        "timeout": timing.timeout,
        "fall": FALL,
        "rise": RISE,
    }
    loaded = profile_from_dict(data)
    assert loaded.profile is not None, loaded
    summary = run_apply(
        build_plan(loaded.profile), ApplyOptions(only=("q1",)), recorder := Recorder()
    )
    assert summary.ok, recorder.text()
    yield loaded.profile, timing
    run_uninstall(build_plan(loaded.profile), ApplyOptions(only=("q1",)), Recorder())


def codes(q1, url: str, count: int = 6) -> list[str]:
    script = (
        f"for i in $(seq {count}); do curl -gsk -m 5 -o /dev/null -w '%{{http_code}} ' {url}; done"
    )
    return on_q1(q1, script).stdout.split()


def in_table(q1, rs: str) -> bool:
    return rs in on_q1(q1, "ipvsadm -Ln").stdout


def test_requests_through_the_ipv6_vip_and_the_name_answer(lab, q1, profile):
    assert section(profile[0], "ipvs").vip == "fd77:97::2"
    route = on_q1(q1, "ip -6 route get fd77:97::2").stdout
    assert "src fd77::41 " in route, route  # not the VIP itself: no master could answer that
    assert codes(q1, f"{VIP_URL}/readyz") == ["200"] * 6
    names = on_q1(q1, f"for i in 1 2 3; do curl -gsk -m 5 {VIP_URL}/whoami; done").stdout
    assert set(names.split()) == {"m1", "m2", "m3"}, names  # round robin over IPv6 masters
    host = "https://apiserver.cluster.local:6443/readyz"
    assert codes(q1, host, 3) == ["200"] * 3


@pytest.mark.parametrize(("kind", "master"), [("kill", "m2"), ("cut", "m3")])
def test_checker_takes_a_lost_ipv6_master_out_and_back(lab, q1, profile, kind, master):
    _, timing = profile
    rs = f"[{lab.node(master).address6}]:6443"
    assert in_table(q1, rs)
    began = time.monotonic()
    lab.kill_apiserver(master) if kind == "kill" else lab.cut(master)
    try:
        while in_table(q1, rs):
            assert time.monotonic() - began < on_loaded_host(timing.removal_bound), (
                f"{rs} still in the table"
            )
            time.sleep(0.3)
        print(f"\n{kind} {master}: out of the IPv6 table in {time.monotonic() - began:.1f} s")
        assert codes(q1, f"{VIP_URL}/readyz") == ["200"] * 6
    finally:
        lab.restore(master)
    began = time.monotonic()
    while not in_table(q1, rs):
        assert time.monotonic() - began < timing.rise_bound, f"{rs} not back in the table"
        time.sleep(0.3)
