"""Throughput through each balancer as Kubernetes clients use it, as a figure that holds:
``python -m bench.h2_throughput [--rounds 15] [--seconds 8] [--runs 2]`` (root, the lab; it
turns the lab real and gives the stand-in back).

Why not bench.real_throughput's one round per path: on this shared 2-core host the direct rate
moves by a third between runs, so one direct round against one round through a balancer, taken
minutes apart, cannot tell 0.7 from 1.0. Here, for each strategy in turn (applied once):

* **HTTP/2 multiplexed clients, as client-go**: h2load from the worker w1's network namespace,
  three processes side by side (one per master direct, each ``-c 4 -m 10``; through the
  balancer the same three processes to its one address), asking the real apiservers' /readyz
  for ``--seconds`` after a 1 s warm-up;
* **new-connection clients, as kubelet's first connect or curl**: bench.throughput's client in
  w1, 4 threads, a new TCP + TLS connection per request;
* direct and through the balancer **interleaved in pairs**, the order swapped each pair
  (AB BA AB ...) so that a drift of the host's load falls on both sides, after one discarded
  warm-up pair; the ratio is taken **per pair** (balancer / direct), and its median and spread
  (min-max, and the interquartile range) over the pairs are reported;
* ``--runs 2`` repeats the whole measurement, so the report shows whether two runs agree (the
  issue's bar: within ±0.05 on each median ratio).

``--pin`` puts the lab's nodes on separate cores, as a real cluster's nodes are on separate hosts:
every process of the masters (apiserver, etcd, and haproxy-keepalived's haproxy, which runs on a
master) on CPU 0, every process of the workers (the node-local proxy) and the bench's clients on
CPU 1. Without it every node shares both cores, so each microsecond a node-local proxy spends is
taken from the apiservers: the pinned run shows how much of the gap to direct is that sharing.

ipvs is not here: the kernel's path runs only in the QEMU guest, whose emulated CPU makes h2load's
rates there say nothing (bench.real_throughput's guest rows are the kernel's reference).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.failover import deploy, run_uninstall_all, vip_in_namespaces
from bench.real_clients import real_lab
from bench.throughput import run_client
from wizard.lab import Lab
from wizard.lab.constants import HAPROXY_VIP
from wizard.netaddr import url_host

STRATEGIES = ("local-nginx", "local-haproxy", "haproxy-keepalived")
H2_CONNECTIONS = 4  # per h2load process (three processes: one per master, as client-go's spread)
H2_STREAMS = 10  # concurrent streams per connection (client-go multiplexes on one connection)
NEW_CONNECTION_THREADS = 4
PATH = "/readyz"
FINISHED_RE = re.compile(r"finished in [0-9.]+m?s, ([0-9.]+) req/s")
REQUESTS_RE = re.compile(
    r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Round:
    """One client kind's one round on one path; ``cpu``: CPU seconds per group of the lab's
    processes over the round (``wall`` seconds), see :func:`lab_cpu`."""

    rps: float
    failed: int
    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0


@dataclass
class Pairs:
    """One strategy's rounds for one client kind: direct and through the balancer, paired."""

    strategy: str
    kind: str
    direct: list[Round] = field(default_factory=list)
    balancer: list[Round] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [b.rps / d.rps for d, b in zip(self.direct, self.balancer, strict=True) if d.rps]

    @property
    def failed(self) -> int:
        return sum(r.failed for r in (*self.direct, *self.balancer))


def parse_h2load(text: str) -> Round:
    """h2load's summary: its req/s and the requests that did not succeed."""
    rate = FINISHED_RE.search(text)
    counts = REQUESTS_RE.search(text)
    if rate is None or counts is None:
        raise RuntimeError(f"h2load printed no summary: {text[-400:]!r}")
    done, succeeded, failed, errored = (int(x) for x in counts.groups())
    return Round(float(rate.group(1)), max(done - succeeded, failed + errored))


# Which of the lab's processes a round's CPU is charged to (by the process's name).
CPU_GROUPS = {
    "haproxy": "proxy",
    "nginx": "proxy",
    "kube-nginx": "proxy",
    "kube-apiserver": "apiserver",
    "etcd": "etcd",
    "h2load": "client",
    "python3": "client",
}
TICK = os.sysconf("SC_CLK_TCK")
PER_NODE = "@"  # lab_cpu's per-node keys: "apiserver@m1"


def nodes_by_netns(lab: Lab) -> dict[int, str]:
    """Each lab node's name by its network namespace's inode (as /proc/PID/ns/net shows it)."""
    inodes: dict[int, str] = {}
    for node in lab.nodes:
        with contextlib.suppress(OSError):
            inodes[os.stat(f"/run/netns/{node.netns}").st_ino] = node.name
    return inodes


def lab_cpu(lab: Lab) -> dict[str, float]:
    """CPU seconds (user + system) so far of every process in the lab's nodes' network
    namespaces (the host's /proc sees them), summed per CPU_GROUPS group."""
    inodes = nodes_by_netns(lab)
    total: dict[str, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            node = inodes.get(os.stat(f"/proc/{pid}/ns/net").st_ino)
            if node is None:
                continue
            with open(f"/proc/{pid}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        group = CPU_GROUPS.get(name, "other")
        seconds = (int(fields[11]) + int(fields[12])) / TICK
        total[group] = total.get(group, 0.0) + seconds
        if group == "apiserver":  # and per master: how evenly the load fell (see apiserver_spread)
            key = f"{group}{PER_NODE}{node}"
            total[key] = total.get(key, 0.0) + seconds
    return total


SEGMENTS = f"segments in{PER_NODE}masters"  # a per-node key: not CPU, left out of cores()


def masters_segments_in(lab: Lab) -> float:
    """TCP segments received so far by the masters' network namespaces (TcpInSegs), summed:
    how finely the requests reach the apiservers (a proxy that forwards in smaller pieces
    costs them more reads)."""
    total = 0.0
    for node in lab.masters:
        snmp = subprocess.run(
            ["ip", "netns", "exec", node.netns, "cat", "/proc/net/snmp"],
            capture_output=True,
            text=True,
        ).stdout
        rows = [line.split() for line in snmp.splitlines() if line.startswith("Tcp:")]
        if len(rows) == 2 and "InSegs" in rows[0]:
            total += float(rows[1][rows[0].index("InSegs")])
    return total


def lab_counters(lab: Lab) -> dict[str, float]:
    """lab_cpu and the masters' segments received."""
    return {**lab_cpu(lab), SEGMENTS: masters_segments_in(lab)}


def segments_per_request(got: Round) -> str:
    """The masters' segments received per request served over a round, e.g. "1.52"."""
    if SEGMENTS not in got.cpu or not got.rps or not got.wall:
        return "-"
    return f"{got.cpu[SEGMENTS] / (got.rps * got.wall):.2f}"


def children_cpu() -> float:
    """CPU seconds of this process's children that ended (the round's clients: h2load and the
    new-connection client exit before lab_cpu could see them)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def with_cpu(lab: Lab, one: Callable[[], Round]) -> Round:
    before, start = lab_counters(lab), time.monotonic()
    clients = children_cpu()
    got = one()
    clients = children_cpu() - clients
    after, wall = lab_counters(lab), time.monotonic() - start
    cpu = {g: round(after[g] - before.get(g, 0.0), 3) for g in after if g in before}
    cpu["client"] = round(cpu.get("client", 0.0) + clients, 3)
    return Round(got.rps, got.failed, cpu, round(wall, 3))


MASTERS_CPU = 0  # --pin: the masters' processes
WORKERS_CPU = 1  # --pin: the workers' processes and the bench's clients


def pin_nodes(lab: Lab, pinned: bool) -> dict[str, int]:
    """Every thread of every process in the lab's nodes on one core (masters on MASTERS_CPU,
    workers on WORKERS_CPU), and this process (so its clients) on WORKERS_CPU; or, ``pinned``
    False, every one back on every core. The threads counted per node."""
    everywhere = set(range(os.cpu_count() or 1))
    roles = {m.name: MASTERS_CPU for m in lab.masters} | {w.name: WORKERS_CPU for w in lab.workers}
    inodes = nodes_by_netns(lab)
    counted: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            node = inodes.get(os.stat(f"/proc/{pid}/ns/net").st_ino)
            tids = os.listdir(f"/proc/{pid}/task") if node else []
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), {roles[node]} if pinned else everywhere)
                counted[node] = counted.get(node, 0) + 1
    os.sched_setaffinity(0, {WORKERS_CPU} if pinned else everywhere)
    return counted


def h2load_round(netns: str, targets: Sequence[tuple[str, int]], seconds: float) -> Round:
    """Three h2load processes side by side in ``netns`` (one per target, repeated to three)."""
    chosen = [targets[i % len(targets)] for i in range(3)]
    procs = [
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                netns,
                "h2load",
                "-c",
                str(H2_CONNECTIONS),
                "-m",
                str(H2_STREAMS),
                "-D",
                f"{seconds:g}",
                "--warm-up-time",
                "1",
                f"https://{url_host(host)}:{port}{PATH}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for host, port in chosen
    ]
    rounds = []
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        rounds.append(parse_h2load(out))
    return Round(sum(r.rps for r in rounds), sum(r.failed for r in rounds))


def new_connection_round(lab: Lab, client: str, targets, seconds: float) -> Round:
    r = run_client(lab, client, [list(t) for t in targets], NEW_CONNECTION_THREADS, seconds, True)
    return Round(float(r["rps"]), int(r["errors"]))


def balancer_targets(strategy: str) -> list[tuple[str, int]]:
    if strategy == "haproxy-keepalived":
        return [(HAPROXY_VIP, 8443)]
    return [("127.0.0.1", 8443)]


def vip_holder(lab: Lab) -> str | None:
    """The master that holds the haproxy-keepalived VIP (the first, were there two)."""
    return next(iter(vip_in_namespaces(lab)), None)


def move_vip(lab: Lab, to: str, log: Log) -> None:
    """The haproxy-keepalived VIP onto master ``to``: keepalived stopped on every other master
    until ``to`` holds it, then started again (``nopreempt`` leaves the VIP where it is)."""
    others = [m.name for m in lab.masters if m.name != to]
    for name in others:
        lab.exec_in_node(name, ["systemctl", "stop", "keepalived"], timeout=30)
    deadline = time.monotonic() + 30
    while vip_holder(lab) != to and time.monotonic() < deadline:
        time.sleep(0.5)
    for name in others:
        lab.exec_in_node(name, ["systemctl", "start", "keepalived"], timeout=30)
    time.sleep(3)  # the others back as backups
    log(f"h2 throughput: the VIP moved to {vip_holder(lab) or 'no node'} (asked: {to})")


def measure_strategy(
    lab: Lab,
    strategy: str,
    rounds: int,
    seconds: float,
    log: Log,
    vip_on: str = "",
    pinned: bool = False,
) -> tuple[Pairs, Pairs]:
    """Apply ``strategy``, then ``rounds`` interleaved pairs per client kind (after a discarded
    warm-up pair); haproxy-keepalived's VIP on master ``vip_on`` when given; the nodes on
    separate cores when ``pinned`` (see :func:`pin_nodes`)."""
    deploy(lab, strategy)
    if strategy == "haproxy-keepalived" and vip_on:
        move_vip(lab, vip_on, log)
    if pinned:
        threads = pin_nodes(lab, True)
        log(f"h2 throughput: pinned, masters on CPU {MASTERS_CPU}, workers on CPU {WORKERS_CPU}:")
        log("  threads per node: " + ", ".join(f"{n} {c}" for n, c in sorted(threads.items())))
    client = lab.workers[0]
    direct = [(m.address, 6443) for m in lab.masters]
    through = balancer_targets(strategy)
    kinds: dict[str, Callable[[list[tuple[str, int]]], Round]] = {
        "HTTP/2 multiplexed": lambda t: with_cpu(
            lab, lambda: h2load_round(client.netns, t, seconds)
        ),
        "new connection": lambda t: with_cpu(
            lab, lambda: new_connection_round(lab, client.name, t, seconds)
        ),
    }
    if strategy == "haproxy-keepalived":
        log(f"h2 throughput: the VIP is on {vip_holder(lab) or 'no node'}")
    found = []
    for kind, one in kinds.items():
        pairs = Pairs(strategy, kind)
        one(direct), one(through)  # warm-up pair: the apiservers' caches, the proxy's workers
        for index in range(rounds):
            order = ("direct", "balancer") if index % 2 == 0 else ("balancer", "direct")
            for side in order:
                got = one(direct if side == "direct" else through)
                (pairs.direct if side == "direct" else pairs.balancer).append(got)
            log(
                f"h2 throughput: {strategy}, {kind}, pair {index + 1}: direct "
                f"{pairs.direct[-1].rps:.0f} req/s, balancer {pairs.balancer[-1].rps:.0f} req/s, "
                f"ratio {pairs.ratios[-1]:.3f}; apiservers' CPU direct "
                f"{apiserver_spread(pairs.direct[-1])}, through {apiserver_spread(pairs.balancer[-1])}"
                f"; masters' segments in per request direct {segments_per_request(pairs.direct[-1])}, "
                f"through {segments_per_request(pairs.balancer[-1])}"
            )
        found.append(pairs)
    return found[0], found[1]


def apiserver_spread(got: Round) -> str:
    """Each master's share of the apiservers' CPU over a round, e.g. "m1 0.33 m2 0.35 m3 0.32"
    (how evenly the balancer's connections fell)."""
    mine = {
        g.split(PER_NODE)[1]: v for g, v in got.cpu.items() if g.startswith(f"apiserver{PER_NODE}")
    }
    whole = sum(mine.values())
    return " ".join(f"{n} {v / whole:.2f}" for n, v in sorted(mine.items())) if whole else "-"


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def per_request_us(rounds: Sequence[Round], group: str) -> float | None:
    """The median over ``rounds`` of ``group``'s CPU per request served, in microseconds."""
    values = [
        r.cpu[group] / (r.rps * r.wall) * 1e6 for r in rounds if group in r.cpu and r.rps and r.wall
    ]
    return statistics.median(values) if values else None


def whole_per_request_us(rounds: Sequence[Round]) -> float | None:
    """The median over ``rounds`` of the lab's whole CPU (every group) per request served, in
    microseconds: on a host whose cores are all busy, throughput goes as its inverse."""
    values = [
        sum(v for g, v in r.cpu.items() if PER_NODE not in g) / (r.rps * r.wall) * 1e6
        for r in rounds
        if r.cpu and r.rps and r.wall
    ]
    return statistics.median(values) if values else None


def cpu_bound_ratio(direct: Sequence[Round], through: Sequence[Round]) -> float | None:
    """The ratio the lab's CPU alone allows: its whole CPU per request direct over through
    (1.0 when the balancer costs nothing; the measured ratio when the host's cores are the
    limit, as on the shared lab)."""
    d, t = whole_per_request_us(direct), whole_per_request_us(through)
    return d / t if d and t else None


def cores(rounds: Sequence[Round]) -> float | None:
    """The median over ``rounds`` of the lab's CPU used (every group), in cores."""
    values = [
        sum(v for g, v in r.cpu.items() if PER_NODE not in g) / r.wall
        for r in rounds
        if r.cpu and r.wall
    ]
    return statistics.median(values) if values else None


def cpu_markdown(runs: Sequence[Sequence[Pairs]]) -> str:
    """Where the CPU went: per request, the proxy's and the apiservers' (direct and through
    the balancer), the lab's whole CPU per request and the ratio it allows
    (:func:`cpu_bound_ratio`), and the lab's whole use in cores, medians over every run's
    rounds."""
    lines = [
        "| client | strategy | proxy µs/request | apiservers µs/request direct "
        "| apiservers µs/request through | etcd µs/request direct | etcd µs/request through "
        "| client µs/request direct | client µs/request through | lab µs/request direct "
        "| lab µs/request through | CPU-bound ratio | lab cores direct | lab cores through |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def show(value: float | None, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for index, first in enumerate(runs[0]):
        direct = [r for run in runs for r in run[index].direct]
        through = [r for run in runs for r in run[index].balancer]
        lines.append(
            f"| {first.kind} | {first.strategy} | {show(per_request_us(through, 'proxy'))} "
            f"| {show(per_request_us(direct, 'apiserver'))} "
            f"| {show(per_request_us(through, 'apiserver'))} "
            f"| {show(per_request_us(direct, 'etcd'))} | {show(per_request_us(through, 'etcd'))} "
            f"| {show(per_request_us(direct, 'client'))} "
            f"| {show(per_request_us(through, 'client'))} "
            f"| {show(whole_per_request_us(direct))} | {show(whole_per_request_us(through))} "
            f"| {show(cpu_bound_ratio(direct, through), 3)} "
            f"| {show(cores(direct), 2)} | {show(cores(through), 2)} |"
        )
    return "\n".join(lines)


def markdown(runs: Sequence[Sequence[Pairs]]) -> str:
    lines = [
        "| client | strategy | run | pairs | direct req/s (median) | balancer req/s (median) "
        "| ratio median | ratio min-max | ratio IQR | failed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run_index, found in enumerate(runs, start=1):
        for p in found:
            ratios = p.ratios
            low, high = quartiles(ratios)
            lines.append(
                f"| {p.kind} | {p.strategy} | {run_index} | {len(ratios)} "
                f"| {statistics.median(r.rps for r in p.direct):.0f} "
                f"| {statistics.median(r.rps for r in p.balancer):.0f} "
                f"| {statistics.median(ratios):.3f} | {min(ratios):.3f}-{max(ratios):.3f} "
                f"| {low:.3f}-{high:.3f} | {p.failed} |"
            )
    if len(runs) > 1:
        lines += [
            "",
            "| client | strategy | median ratio per run | largest difference |",
            "|---|---|---|---|",
        ]
        for index, first in enumerate(runs[0]):
            medians = [statistics.median(run[index].ratios) for run in runs]
            lines.append(
                f"| {first.kind} | {first.strategy} "
                f"| {', '.join(f'{m:.3f}' for m in medians)} | {max(medians) - min(medians):.3f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.run import lab_lock
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.h2_throughput", description=__doc__)
    parser.add_argument(
        "--rounds",
        type=int,
        default=15,
        help="pairs per strategy and client (haproxy-keepalived's HTTP/2 pairs spread by 0.07: "
        "a median of fewer than about 15 moves by 0.05 between runs)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="per round")
    parser.add_argument("--runs", type=int, default=2, help="whole measurements, to compare")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", help="also write the table (markdown) and the rounds (JSON)")
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the lab lock")
    parser.add_argument(
        "--vip-on",
        default="",
        help="haproxy-keepalived's VIP on these masters, one per run in turn (e.g. m1,m3)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the masters on CPU 0, the workers and the clients on CPU 1 (nodes on their own "
        "cores, as on separate hosts)",
    )
    args = parser.parse_args(argv)
    if args.pin and (os.cpu_count() or 1) < 2:
        raise SystemExit("--pin needs two cores or more")
    require_root()
    if subprocess.run(["h2load", "--version"], capture_output=True).returncode != 0:
        raise SystemExit("h2load is not installed: apt-get install nghttp2-client")
    strategies = [s for s in args.strategies.split(",") if s]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs: list[list[Pairs]] = []
    with lab_lock(not args.no_lock), real_lab(run_uninstall_all) as lab:
        for run_index in range(args.runs):
            found: list[Pairs] = []
            for strategy in strategies:
                print(f"h2 throughput: run {run_index + 1}, {strategy}", flush=True)
                holders = [h for h in args.vip_on.split(",") if h]
                vip_on = holders[run_index % len(holders)] if holders else ""
                try:
                    found.extend(
                        measure_strategy(
                            lab, strategy, args.rounds, args.seconds, print, vip_on, args.pin
                        )
                    )
                finally:
                    if args.pin:
                        pin_nodes(lab, False)
            runs.append(sorted(found, key=lambda p: (p.kind, p.strategy)))
    table = markdown(runs) + "\n\n" + cpu_markdown(runs)
    layout = ", nodes pinned (masters CPU 0, workers and clients CPU 1)" if args.pin else ""
    head = (
        f"h2 throughput, {started}, {args.rounds} pairs x {args.seconds:g} s, {args.runs} "
        f"run(s){layout}:"
    )
    print(f"{head}\n{table}")
    if args.out:
        with open(args.out, "w") as out:
            out.write(f"{head}\n\n{table}\n")
        with open(f"{args.out}.json", "w") as out:
            json.dump(
                [
                    [
                        p.__dict__
                        | {
                            "direct": [r.__dict__ for r in p.direct],
                            "balancer": [r.__dict__ for r in p.balancer],
                        }
                        for p in run
                    ]
                    for run in runs
                ],
                out,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
