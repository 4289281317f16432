"""How long a cut master costs the clients, several drills in a row: ``python -m bench.cut_time
[--strategy S ...] [--runs N] [--vip-holder] [--advert-int 0.5]`` (root, the lab; it takes the
lab test lock unless ``--no-lock``). Per strategy: kubeha's config applied on the stand-in lab, then ``--runs`` cut
drills (wizard.engine.drill: new-connection requests, a kept-alive client and watch streams on
every node) of the busiest master that holds no VIP (``--vip-holder``: haproxy-keepalived's VIP
holder instead). A drill's *back* is the worst of its nodes' watch back, kept-alive back and
recovered; the summary gives the worst and the median over the runs (issue 28's target: 2 s)."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from dataclasses import replace

from bench import failover
from bench.run import lab_lock
from wizard.commands.lab_drill import LabFault
from wizard.engine.apply import run_uninstall
from wizard.engine.drill import DrillTiming
from wizard.engine.drill_run import run_drill
from wizard.engine.model import ApplyOptions
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies.haproxy_keepalived import HaproxyKeepalived


def back_s(row: failover.FailoverRow) -> float | None:
    """The drill's worst client: None when a watch never came back."""
    if row.watch_back_s is None:
        return None
    return max(row.watch_back_s, row.ka_back_s, row.recovered_s)


def line(strategy: str, run: int, row: failover.FailoverRow) -> str:
    back = back_s(row)
    watch = "never" if row.watch_back_s is None else f"{row.watch_back_s:.1f} s"
    return (
        f"{strategy} {row.kind} {row.master} run {run}: back "
        f"{'never' if back is None else f'{back:.1f} s'} (watch {watch}, kept-alive "
        f"{row.ka_back_s:.1f} s, requests {row.recovered_s:.1f} s); failed {row.failed}, "
        f"lost {row.lost_in_flight}, kept-alive failed {row.ka_failed}/{row.ka_requests}, "
        f"watches cut {row.watches_cut}; load {os.getloadavg()[0]:.2f}"
    )


def with_advert_int(advert_int: float | None):
    """A profile change for failover.deploy: haproxy-keepalived's ``advert_int`` (None: none)."""
    if advert_int is None:
        return None

    def tweak(profile: Profile) -> Profile:
        if profile.strategy != "haproxy-keepalived":
            return profile
        hk = profile.table("haproxy_keepalived", HaproxyKeepalived)
        tables = {**profile.tables, "haproxy_keepalived": replace(hk, advert_int=advert_int)}
        return replace(profile, tables=tables)

    return tweak


def measure(
    lab,
    strategy: str,
    runs: int,
    vip_holder: bool,
    timing: DrillTiming,
    log=print,
    advert_int: float | None = None,
):
    profile = failover.deploy(lab, strategy, with_advert_int(advert_int))
    if advert_int is not None:
        log(f"{strategy}: haproxy_keepalived.advert_int = {advert_int:g}")
    rows = []
    try:
        for run in range(1, runs + 1):
            if vip_holder:
                row = failover.vip_holder_row(f"kubeha {strategy}", profile, timing, log)
            else:
                holders = failover.vip_holders(profile)
                allowed = {m.name for m in profile.masters} - holders
                master = failover.busiest_master(profile, allowed) or failover.victim(profile)
                report = run_drill(profile, master, "cut", timing, fault=LabFault(master, "cut"))
                row = failover.row(f"kubeha {strategy}", report)
            log(line(strategy, run, row))
            rows.append(row)
    finally:
        run_uninstall(build_plan(profile), ApplyOptions(), failover._quiet)
    backs = [back_s(r) for r in rows]
    known = sorted(b for b in backs if b is not None)
    worst = "never" if None in backs else f"{max(known):.1f} s"
    median = f"{statistics.median(known):.1f} s" if known else "-"
    kind = "cut VIP holder" if vip_holder else "cut"
    log(
        f"SUMMARY {strategy} {kind}: {len(rows)} runs, back worst {worst}, median {median} "
        f"({', '.join('never' if b is None else f'{b:.1f}' for b in backs)}); "
        f"failed {sum(r.failed for r in rows)}, kept-alive failed {sum(r.ka_failed for r in rows)}; "
        f"load {os.getloadavg()[0]:.2f} at {time.strftime('%H:%M UTC', time.gmtime())}"
    )
    return rows


def main(argv=None) -> int:
    from wizard.lab import up
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.cut_time", description=__doc__)
    parser.add_argument("--strategy", action="append", choices=failover.STRATEGIES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vip-holder", action="store_true")
    parser.add_argument("--no-lock", action="store_true")
    parser.add_argument(
        "--advert-int", type=float, help="haproxy-keepalived's advert_int (below 1: VRRP 3)"
    )
    args = parser.parse_args(argv)
    require_root()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with lab_lock(not args.no_lock):
        lab = up(3, 2, 0, log=lambda text: print(f"[lab] {text}"))
        for strategy in args.strategy or failover.STRATEGIES:
            measure(
                lab, strategy, args.runs, args.vip_holder, DrillTiming(), advert_int=args.advert_int
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
