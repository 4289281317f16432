"""Fixtures for the verify and drill lab tests: one strategy deployed per module."""

from __future__ import annotations

import threading
import time

from tests.engine.labkit import apply, lab_profile, uninstall
from wizard.netaddr import https_url

STRATEGIES = ("local-nginx", "haproxy-keepalived", "local-haproxy")


def deployed(lab, strategy: str):
    """Remove whatever strategy the lab carries, deploy ``strategy``, return its profile."""
    for other in STRATEGIES:
        uninstall(lab_profile(lab, other))
    profile = lab_profile(lab, strategy)
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    return profile


SHUTDOWN_DELAY = 6.0  # the lab apiserver's drain: /readyz fails this long before it stops


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
