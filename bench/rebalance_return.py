"""Balance after a return (issue 25, item 4) on the real control plane: ``python -m
bench.rebalance_return [--runs 3] [--off-runs 1] [--out FILE]`` (root, the lab; run it under
``flock /run/kubeha-lab-user.lock``).

local-haproxy applied with the node agent and ``[clients] repoint`` (every kubeconfig through
the node's balancer), first with ``rebalance = false`` (``--off-runs``: what a return leaves
without it), then with ``rebalance = true`` (``--runs``). On every node the drill's clients
(bench/real_agent.py: a kept-alive GET every 0.2 s, sent once more on a new connection when its
reused one was closed before any answer as Go's transport does, and ``--watches`` kubectl
watches: long-lived connections as controllers and kubelet hold them; the writer on w1 patches
the Service every 2 s, so a watch is quiet between two events as a real one mostly is). Per run:
m1's kube-apiserver killed (every connection moves to m2 and m3), held ``--hold`` s, restored;
then for ``--after`` s, every second, each node's balancer connections per master
(``ss -tnpH state established``: haproxy's sockets to each master's port 6443), summed over the
fleet. Figures per run: the busiest / least busy master's connections at the return and 60 s
after it, the first second after the return from which that ratio stays within the agent's
``rebalance_ratio`` (1.25) to the end, the connections the agents closed
(``kubeha_rebalance_closed_total``), and the requests, PATCHes and watches that failed over the
run. Prints one JSON document (``--out FILE`` too) that docs/BENCHMARKS.md's rows come from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.master_replace import (
    SCRAPE,
    USE_TIMEOUT_S,
    profile_for,
    start_clients,
    tally,
    wait_used,
)
from bench.real_clients import Agent, prepare, uninstall_all
from wizard.agent.metrics import parse
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions
from wizard.lab import Lab, up
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies.node_agent import AgentTable

RATIO = 1.25  # the agent's default rebalance_ratio, and the bar
BAR_S = 60.0  # within 60 s of the return


def log(line: str) -> None:
    print(f"[rebalance] {line}", flush=True)


def with_rebalance(profile: Profile, on: bool) -> Profile:
    agent = dataclasses.replace(profile.table("agent", AgentTable), rebalance=on)
    return profile.with_table("agent", agent)


def per_master(lab: Lab, masters: dict[str, str]) -> dict[str, Counter[str]]:
    """node -> master name -> the node's balancer connections to it, established now."""
    found: dict[str, Counter[str]] = {}
    for n in lab.nodes:
        out = lab.exec_in_node(
            n.name, ["ss", "-tnpH", "state", "established", "( dport = :6443 )"], timeout=20
        ).stdout
        counts: Counter[str] = Counter()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 4 or '"haproxy"' not in line:
                continue
            name = masters.get(parts[3].rpartition(":")[0].strip("[]"))
            if name:
                counts[name] += 1
        found[n.name] = counts
    return found


def fleet(counts: dict[str, Counter[str]], names: list[str]) -> dict[str, int]:
    return {m: sum(c[m] for c in counts.values()) for m in names}


def ratio(total: dict[str, int]) -> float:
    """Busiest / least busy (inf: a master carries none while another carries some)."""
    most, least = max(total.values()), min(total.values())
    if least == 0:
        return float("inf") if most else 1.0
    return most / least


def closed_total(lab: Lab) -> int:
    total = 0
    for n in lab.nodes:
        text = lab.exec_in_node(n.name, ["python3", "-c", SCRAPE], timeout=20).stdout
        total += int(sum(parse(text).get("kubeha_rebalance_closed_total", {}).values()))
    return total


def one_run(
    lab: Lab, agents: list[Agent], names: list[str], masters: dict[str, str], args: Any
) -> dict[str, Any]:
    before = fleet(per_master(lab, masters), names)
    closed_before = closed_total(lab)
    began = time.time()
    lab.kill_apiserver("m1")
    time.sleep(args.hold)
    away = fleet(per_master(lab, masters), names)
    lab.restore("m1")
    back = time.time()
    log(f"m1 back {back - began:.1f} s after its kill; away: {away}")
    samples: list[tuple[float, dict[str, int]]] = []
    while time.time() - back < args.after:
        at = time.time() - back
        samples.append((round(at, 1), fleet(per_master(lab, masters), names)))
        time.sleep(max(0.0, 1.0 - (time.time() - back - at)))
    within = None  # the first sample from which every later one is within RATIO
    for at, total in reversed(samples):
        if ratio(total) > RATIO:
            break
        within = at
    at_bar = next((total for at, total in samples if at >= BAR_S), samples[-1][1])
    ended = time.time()
    result = {
        "before": before,
        "away": away,
        "at_return": samples[0][1],
        "ratio_at_return": round(ratio(samples[0][1]), 2),
        "at_60s": at_bar,
        "ratio_at_60s": round(ratio(at_bar), 2),
        "within_ratio_from_s": within,
        "closed_by_agents": closed_total(lab) - closed_before,
        "samples": samples,
    }
    result.update(tally(agents, began - 1, ended))
    log(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return result


def run(args: Any) -> dict[str, Any]:
    lab = up(3, 2, 0, control_plane="real", replace=True, log=log)
    uninstall_all(lab)
    base = profile_for(lab, discovery=True)
    masters = {m.address: m.name for m in lab.masters}
    names = sorted(masters.values())
    nodes = [n.name for n in lab.nodes]
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    prepare(lab)
    for label, on, runs in (("off", False, args.off_runs), ("on", True, args.runs)):
        if not runs:
            continue
        profile = with_rebalance(base, on)
        applied = run_apply(build_plan(profile), ApplyOptions(verify_timeout=60), lambda _e: None)
        if not applied.ok:
            raise RuntimeError(f"apply: {[(n.node, n.reason) for n in applied.nodes if not n.ok]}")
        for m in lab.masters:
            wait_used(lab, nodes, f"{m.address}:6443", USE_TIMEOUT_S)
        duration = runs * (args.hold + args.after + 60) + 60
        agents = start_clients(lab, nodes, duration, 0.2, 2.0, args.watches)
        try:
            time.sleep(10)  # every client connected, spread by least connections
            result[label] = [
                one_run(lab, list(agents.values()), names, masters, args) for _ in range(runs)
            ]
        finally:
            for agent in agents.values():
                agent.stop()
    uninstall_all(lab)
    return result


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| rebalance | run | fleet connections m1/m2/m3: before, away, at return, 60 s after "
        "| busiest/least at return → 60 s | within 1.25 from | closed by agents | failed "
        "(requests, PATCHes) | watch restarts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ("off", "on"):
        for i, r in enumerate(result.get(label, []), 1):

            def trio(d: dict[str, int]) -> str:
                return "/".join(str(d[m]) for m in sorted(d))

            within = r["within_ratio_from_s"]
            rows.append(
                f"| {label} | {i} | {trio(r['before'])}, {trio(r['away'])}, "
                f"{trio(r['at_return'])}, {trio(r['at_60s'])} | {r['ratio_at_return']} → "
                f"{r['ratio_at_60s']} | {'never' if within is None else f'{within:.0f} s'} | "
                f"{r['closed_by_agents']} | {r['failed']} of {r['requests']}, "
                f"{r['writes_failed']} of {r['writes']} | {r['watch_restarts']} |"
            )
    on = [r["within_ratio_from_s"] for r in result.get("on", [])]
    if on and all(w is not None for w in on):
        rows.append(
            f"\nrebalance on: within 1.25 from {statistics.median(on):.0f} s after the return "
            f"(median; {min(on):.0f}-{max(on):.0f} s)"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.rebalance_return", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="kill and restore with rebalance on")
    parser.add_argument("--off-runs", type=int, default=1, help="the same with rebalance off")
    parser.add_argument("--watches", type=int, default=4, help="kubectl watches per node")
    parser.add_argument("--hold", type=float, default=15.0, help="seconds m1 stays dead")
    parser.add_argument("--after", type=float, default=90.0, help="seconds watched after")
    parser.add_argument("--out", help="also write the JSON document here")
    args = parser.parse_args(argv)
    require_root()
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
