"""Fixtures for the verify and drill lab tests: one strategy deployed per module."""

from __future__ import annotations

import threading
import time

from tests.support.labkit import STRATEGIES, apply, lab_profile, uninstall
from wizard.engine.drill import DrillTiming
from wizard.netaddr import https_url


def deployed(lab, strategy: str):
    """Remove whatever strategy the lab carries, deploy ``strategy``, return its profile."""
    for other in STRATEGIES:
        uninstall(lab_profile(lab, other))
    profile = lab_profile(lab, strategy)
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    return profile


SHUTDOWN_DELAY = 6.0  # the lab apiserver's drain: /readyz fails this long before it stops

# A kill or cut drill in a test holds the fault for 12 s and wants every client back within
# 11 s (BACK_WHILE_AWAY_S), while the master is still away: told apart from a client that came
# back only because the master returned. The failover's own time on a quiet host is at most
# 5.0 s (docs/BENCHMARKS.md: the slowest rows, haproxy-keepalived's IPv6 cut, recovered 5.0 s,
# kept-alive back 4.9 s; every watch back within 3.5 s), so 11 s leaves a host 2.2 times as
# slow and loaded room; the VIP holder's cut needs 3 x advert_int + 1 s + the follower's 3 s
# (7 s, asserted where it is drilled). 3 s after the restore end the loops. (It held 15 s
# before: 3 s x 17 drills of CI time for no claim.) The tight figures are the bench's
# (python -m bench.real_clients), not these tests'.
LOADED_DRILL = DrillTiming(lead=2.0, hold=12.0, duration=17.0)
BACK_WHILE_AWAY_S = LOADED_DRILL.hold - 1.0


def drain_drill(lab, profile, master: str):
    """The drill with ``master`` drained (as an upgrade stops an apiserver), and how many watch
    streams the draining master still held one second before its listener closed: the load
    balancer must have moved them all by then."""
    from wizard.commands.lab_drill import LabFault
    from wizard.engine.drill import SHORT
    from wizard.engine.drill_run import run_drill

    address = next(m.address for m in profile.masters if m.name == master)
    left: list[int] = []

    def sample() -> None:
        probe = (
            f"curl -sk -o /dev/null -w '%{{http_code}}' -m 2 {https_url(address, 6443, '/readyz')}"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the drain starts (/readyz fails)
            if lab.exec_in_node(master, ["sh", "-c", probe]).stdout.strip() == "500":
                break
            time.sleep(0.1)
        time.sleep(SHUTDOWN_DELAY - 1.5)
        count = f"curl -sk -m 2 {https_url(address, 6443, '/lab/watches')}"
        left.append(int(lab.exec_in_node(master, ["sh", "-c", count]).stdout.strip() or -1))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report = run_drill(profile, master, "drain", SHORT, fault=LabFault(master, "drain"))
    sampler.join(70)
    return report, (left[0] if left else None)
