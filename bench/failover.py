"""Failover figures: kubeha's configs and the seed guides' configs, each through the same drill
(wizard.engine.drill) on the lab, per fault kind."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from bench.seeds import install_seed
from wizard.commands.lab_drill import LabFault
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.drill import DrillReport, DrillTiming
from wizard.engine.drill_run import run_drill
from wizard.engine.model import ApplyOptions
from wizard.engine.verify import run_verify
from wizard.lab import Lab
from wizard.lab.constants import HAPROXY_VIP
from wizard.lab.profiles import build_profile
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan

STRATEGIES = ("local-nginx", "haproxy-keepalived", "local-haproxy")


@dataclass(frozen=True)
class FailoverRow:
    config: str  # "kubeha local-nginx", "guide 000 nginx", ...
    kind: str
    master: str
    clients: int
    requests: int
    failed: int
    lost_in_flight: int
    stalled: int
    recovered_s: float
    watches_cut: int
    watch_back_s: float | None  # worst node; None: a stream never came back
    ka_requests: int = 0  # the kept-alive clients (0: not measured)
    ka_failed: int = 0  # failed or lost in flight
    ka_back_s: float = 0.0  # worst node


def lab_profile(lab: Lab, strategy: str) -> Profile:
    profile = profile_from_dict(build_profile(lab.state, strategy)).profile
    assert profile is not None
    return profile


def _quiet(_event) -> None:
    pass


def deploy(lab: Lab, strategy: str, tweak: Callable[[Profile], Profile] | None = None) -> Profile:
    """Every strategy uninstalled, then ``strategy``'s lab profile (changed by ``tweak``)
    applied."""
    for other in STRATEGIES:
        run_uninstall(build_plan(lab_profile(lab, other)), ApplyOptions(), _quiet)
    profile = lab_profile(lab, strategy)
    if tweak is not None:
        profile = tweak(profile)
    for _attempt in range(2):  # a loaded machine can miss a verify deadline once
        summary = run_apply(build_plan(profile), ApplyOptions(verify_timeout=40), _quiet)
        if summary.ok:
            return profile
    reasons = "; ".join(f"{n.node}: {n.reason}" for n in summary.nodes if not n.ok)
    reasons = reasons or "; ".join(summary.cluster_problems)
    raise RuntimeError(f"deploying {strategy} on the lab failed ({reasons})")


def row(config: str, report: DrillReport) -> FailoverRow:
    nodes = [n for n in report.nodes if not n.error]
    backs = [n.watch_back_s for n in nodes]
    return FailoverRow(
        config=config,
        kind=report.kind,
        master=report.master,
        clients=len(nodes),
        requests=sum(n.requests for n in nodes),
        failed=sum(n.failed for n in nodes),
        lost_in_flight=sum(n.lost_in_flight for n in nodes),
        stalled=sum(n.stalled for n in nodes),
        recovered_s=max((n.recovered_s for n in nodes), default=0.0),
        watches_cut=sum(n.watches_interrupted for n in nodes),
        watch_back_s=None if any(b is None for b in backs) else max(backs, default=0.0),
        ka_requests=sum(n.ka_requests for n in nodes),
        ka_failed=sum(n.ka_failed + n.ka_lost_in_flight for n in nodes),
        ka_back_s=max((n.ka_back_s for n in nodes), default=0.0),
    )


def victim(profile: Profile) -> str:
    """A master that does not hold the VIP (a VIP move is keepalived's figure, not the proxy's)."""
    holders = vip_holders(profile)
    return next(m.name for m in profile.masters if m.name not in holders)


def vip_holders(profile: Profile) -> set[str]:
    return {c.node for c in run_verify(profile).nodes if c.holds_vip}


def vip_in_namespaces(lab: Lab) -> tuple[str, ...]:
    """The masters whose network namespace holds the lab's haproxy-keepalived VIP now (read
    from the host, no SSH: cheap enough to sample every 0.1 s)."""
    found = []
    for node in lab.masters:
        shown = subprocess.run(
            ["ip", "-n", node.netns, "-o", "addr", "show"], capture_output=True, text=True
        )
        if f" {HAPROXY_VIP}/" in shown.stdout:
            found.append(node.name)
    return tuple(found)


def vip_holder_row(config: str, profile: Profile, timing: DrillTiming, log) -> FailoverRow:
    """The hard case: the node that holds the VIP is cut (keepalived moves the VIP; a client
    reading a watch through the old holder is never told)."""
    holders = sorted(vip_holders(profile))
    holder = holders[0] if len(holders) == 1 else profile.masters[0].name
    log(f"failover: {config}, cut {holder} (the VIP holder)")
    report = run_drill(profile, holder, "cut", timing, fault=LabFault(holder, "cut"))
    return dataclasses.replace(row(config, report), kind="cut VIP holder")


def busiest_master(profile: Profile, candidates: set[str]) -> str | None:
    """The master most nodes reach through their load balancer right now (the lab's apiserver
    names itself), among ``candidates``."""
    answered = [c.master for c in run_verify(profile).nodes if c.ok and c.master in candidates]
    return max(set(answered), key=answered.count) if answered else None


def measure(
    lab: Lab, kinds: tuple[str, ...], timing: DrillTiming, strategies=STRATEGIES, log=print
) -> list[FailoverRow]:
    rows: list[FailoverRow] = []
    seed_names = {"local-nginx": "guide 000 nginx", "haproxy-keepalived": "guide 004 haproxy"}
    for strategy in strategies:
        try:
            profile = deploy(lab, strategy)
        except RuntimeError as exc:
            log(f"failover: {strategy} not measured: {exc}")
            continue
        master = victim(profile)
        for kind in kinds:
            log(f"failover: kubeha {strategy}, {kind} {master}")
            rows.append(
                row(
                    f"kubeha {strategy}",
                    run_drill(profile, master, kind, timing, fault=LabFault(master, kind)),
                )
            )
        if strategy == "haproxy-keepalived" and "cut" in kinds:
            rows.append(vip_holder_row(f"kubeha {strategy}", profile, timing, log))
        if strategy not in seed_names:  # no seed guide installs it
            run_uninstall(build_plan(profile), ApplyOptions(), _quiet)
            continue
        allowed = {m.name for m in profile.masters} - vip_holders(profile)
        for kind in kinds:
            # A fresh proxy for every drill: the guides' passive checks (nginx fail_timeout=30s,
            # haproxy's 10 s checks and 60 s slowstart) would otherwise still avoid the master
            # the previous drill took away, and the next drill would take away an idle one.
            install_seed(lab, profile)
            # Guide 000 balances by `hash $remote_addr`: behind a node-local proxy every client
            # is 127.0.0.1, so all of a node's traffic goes to one master. Taking away one that
            # carries nothing would flatter it: the drill takes the busiest (not a VIP holder).
            seed_victim = busiest_master(profile, allowed) or master
            log(f"failover: {seed_names[strategy]}, {kind} {seed_victim}")
            report = run_drill(
                profile, seed_victim, kind, timing, fault=LabFault(seed_victim, kind)
            )
            rows.append(row(seed_names[strategy], report))
        if strategy == "haproxy-keepalived" and "cut" in kinds:
            install_seed(lab, profile)
            rows.append(vip_holder_row(seed_names[strategy], profile, timing, log))
        run_uninstall(build_plan(profile), ApplyOptions(), _quiet)
    return rows


# The QEMU guest runs under software emulation: one probe round (a curl start and three TLS
# handshakes) takes about 1.2 s of its time, so its checker probes every 2 s (the tests use 3 s:
# they share the host with the rest of the suite; the bench has it to itself).
IPVS_HEALTH = {"interval": 2.0, "timeout": 2.0, "fall": 2, "rise": 2}


def measure_ipvs(
    lab: Lab, kinds: tuple[str, ...], timing: DrillTiming, log=print
) -> list[FailoverRow]:
    """kubeha's ipvs strategy on one QEMU guest (the only lab node with IPVS), the nspawn
    masters as real servers; the guest is the drill's one client."""
    from wizard.lab import qemu

    guests = qemu.ensure_guests(1, log=lambda line: log(f"[qemu] {line}"))
    data = qemu.ipvs_profile(lab.state, guests)
    data["health_check"] = dict(IPVS_HEALTH)
    profile = profile_from_dict(data).profile
    assert profile is not None
    only = ApplyOptions(only=tuple(g.name for g in guests), verify_timeout=60)
    rows: list[FailoverRow] = []
    try:
        summary = run_apply(build_plan(profile), only, _quiet)
        if not summary.ok:
            reasons = "; ".join(f"{n.node}: {n.reason}" for n in summary.nodes if not n.ok)
            log(f"failover: ipvs not measured: {reasons}")
            return rows
        master = profile.masters[0].name
        for kind in kinds:
            log(f"failover: kubeha ipvs (QEMU guest), {kind} {master}")
            report = run_drill(
                profile, master, kind, timing, options=only, fault=LabFault(master, kind)
            )
            rows.append(row("kubeha ipvs (QEMU)", report))
    finally:
        run_uninstall(build_plan(profile), only, _quiet)
        qemu.remove_guests(log=lambda line: log(f"[qemu] {line}"))
    return rows


def run_uninstall_all(lab: Lab) -> None:
    """Leave the lab's nodes without any kubeha strategy, as the bench found them."""
    for strategy in STRATEGIES:
        run_uninstall(build_plan(lab_profile(lab, strategy)), ApplyOptions(), _quiet)
