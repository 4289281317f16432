"""What one node of an apply costs the machine that runs kubeha, and what 500 and 5,000 cost.

``python -m bench.fanout_cost [--counts 5,20,60] [--runs 3] [--out FILE]``, as root, with the
lab free (it takes the lab test lock and reshapes the lab to as many workers as the largest
count needs, then puts it back to 3 masters and 2 workers).

Each apply (local-nginx, after an uninstall, the default concurrency) runs in a child process
of its own, so its figures are kubeha's alone: the child's CPU time (user + system, its threads
and any program it starts), its peak resident memory, and the wall time. The lab's nodes are
containers on the same two cores, so the wall time is the nodes' as much as kubeha's; the CPU
time is not: it is what each node costs the controller, whatever the nodes do.

From the runs: a least-squares line of CPU seconds against nodes (fixed cost + cost per node),
and a projection for 500 and 5,000 nodes at the default concurrency: the CPU the controller
needs (Python holds one core: the GIL lets paramiko's C code overlap only a little), and the
wall time, the larger of that CPU time on one core and the rounds of ``concurrency`` nodes the
nodes' own latency allows (each round as long as one node took in the smallest run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (500, 5000)


@dataclass(frozen=True)
class Cost:
    nodes: int
    ok: bool
    wall_s: float
    cpu_s: float  # user + system of the child, its threads and its children
    peak_rss_mb: float
    phases: tuple[tuple[str, float], ...] = ()  # phase -> mean seconds per node


def _child(count: int) -> int:
    """Run one apply against ``count`` lab nodes; print its Cost as JSON."""
    from bench.deploy_scale import PhaseTimes, profile_for
    from wizard import lab as lab_api
    from wizard.engine.apply import run_apply
    from wizard.engine.model import ApplyOptions
    from wizard.render import build_plan

    lab = lab_api.current()
    if lab is None:
        print(json.dumps({"error": "no lab is up"}))
        return 1
    plan = build_plan(profile_for(lab, count))
    phases = PhaseTimes()
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    summary = run_apply(plan, ApplyOptions(), phases)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
        for a, b in zip(after, before, strict=True)
    )
    cost = Cost(
        nodes=count,
        ok=summary.ok,
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 3),
        peak_rss_mb=round(after[0].ru_maxrss / 1024, 1),
        phases=phases.means(),
    )
    print(json.dumps(dataclasses.asdict(cost)))
    return 0 if summary.ok else 1


def _one(count: int) -> Cost:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fanout_cost", "--child", str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the apply of {count} nodes printed nothing: {proc.stderr[-2000:]}")
    data = json.loads(lines[-1])
    if "error" in data:
        raise RuntimeError(data["error"])
    data["phases"] = tuple(tuple(p) for p in data["phases"])
    return Cost(**data)


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least squares ``y = fixed + per * x``: (fixed, per)."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if len(set(xs)) < 2:
        raise ValueError("a line needs at least two different node counts")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    per = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - per * mx, per


@dataclass(frozen=True)
class Projection:
    nodes: int
    cpu_s: float
    wall_s: float
    bound_by: str  # "controller CPU" or "node latency"


def project(
    costs: Sequence[Cost], concurrency: int, counts: Sequence[int] = PROJECT
) -> list[Projection]:
    """500 and 5,000 nodes from the measured runs (see the module's docstring)."""
    fixed, per = fit([(c.nodes, c.cpu_s) for c in costs])
    smallest = min(c.nodes for c in costs)
    round_s = statistics.median(c.wall_s for c in costs if c.nodes == smallest)
    out = []
    for n in counts:
        cpu = fixed + per * n
        latency = -(-n // concurrency) * round_s
        bound = "controller CPU" if cpu >= latency else "node latency"
        out.append(Projection(n, round(cpu, 1), round(max(cpu, latency), 1), bound))
    return out


def measure(counts: Sequence[int], runs: int, log=print) -> list[Cost]:
    from bench.deploy_scale import SHAPES, STANDARD, profile_for
    from bench.failover import lab_profile
    from wizard import lab as lab_api
    from wizard.engine.apply import run_uninstall
    from wizard.engine.model import ApplyOptions
    from wizard.render import build_plan

    def quiet(_event) -> None:
        pass

    lab = lab_api.current() or lab_api.up(*STANDARD, replace=True, log=lambda _: None)
    costs = []
    try:
        for count in counts:
            shape = next(s for n, s in sorted(SHAPES.items()) if n >= count)
            if lab.shape != shape:
                log(f"fanout: bringing the lab to {shape} for {count} nodes")
                lab = lab_api.up(*shape, replace=True, log=lambda _: None)
            for run in range(runs):
                run_uninstall(build_plan(lab_profile(lab, "local-nginx")), ApplyOptions(), quiet)
                cost = _one(count)
                log(
                    f"fanout: {count} nodes, run {run + 1}: cpu {cost.cpu_s:.2f} s, "
                    f"wall {cost.wall_s:.1f} s, peak {cost.peak_rss_mb:.0f} MB"
                    + ("" if cost.ok else " (FAILED)")
                )
                costs.append(cost)
            run_uninstall(build_plan(profile_for(lab, count)), ApplyOptions(), quiet)
    finally:
        if lab.shape != STANDARD:
            log("fanout: putting the lab back to 3 masters and 2 workers")
            lab_api.up(*STANDARD, replace=True, log=lambda _: None)
    return costs


def table(costs: Sequence[Cost], concurrency: int) -> str:
    lines = [
        "| nodes | runs | controller CPU (median, min-max) | CPU per node | peak memory | wall |",
        "|---|---|---|---|---|---|",
    ]
    for n in sorted({c.nodes for c in costs}):
        mine = [c for c in costs if c.nodes == n]
        cpu = [c.cpu_s for c in mine]
        lines.append(
            f"| {n} | {len(mine)} | {statistics.median(cpu):.2f} s ({min(cpu):.2f}-{max(cpu):.2f})"
            f" | {statistics.median(cpu) / n * 1000:.0f} ms"
            f" | {statistics.median(c.peak_rss_mb for c in mine):.0f} MB"
            f" | {statistics.median(c.wall_s for c in mine):.1f} s |"
        )
    fixed, per = fit([(c.nodes, c.cpu_s) for c in costs])
    lines += [
        "",
        f"CPU = {fixed:.2f} s + {per * 1000:.0f} ms per node (least squares over every run).",
        "",
        f"| projected nodes | controller CPU | wall at concurrency {concurrency} | bound by |",
        "|---|---|---|---|",
    ]
    for p in project(costs, concurrency):
        lines.append(f"| {p.nodes} | {p.cpu_s:.0f} s | {p.wall_s:.0f} s | {p.bound_by} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_cost", description=__doc__)
    parser.add_argument("--counts", default="5,20,60", help="node counts, comma separated")
    parser.add_argument("--runs", type=int, default=3, help="applies per count")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return _child(args.child)
    from bench.run import lab_lock
    from wizard.engine.model import ApplyOptions
    from wizard.lab.system import require_root

    require_root()
    counts = tuple(int(c) for c in args.counts.split(","))
    with lab_lock(True):
        costs = measure(counts, args.runs)
        text = table(costs, ApplyOptions().concurrency)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
