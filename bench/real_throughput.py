"""Throughput and latency through each strategy's load balancer against the lab's real
kube-apiservers (the stand-in caps at ~91 req/s, so its ratios say little): ``python -m
bench.real_throughput`` (root, the lab; it turns the lab real and gives the stand-in back).

The client of bench.throughput on a worker, 4 threads for ``--seconds`` each, asking /readyz:
once on kept-alive connections (as client-go), once with a new TCP + TLS connection per request;
direct to the three masters first, then through local-nginx, local-haproxy and
haproxy-keepalived; ratios to direct, per client kind, in one run. Then ipvs from the QEMU guest
(the only lab node with IPVS): the same client there, direct and through the IPVS virtual
server, with ratios to the guest's own direct figures (its CPU is emulated: its absolute
figures are not comparable with the workers').
"""

from __future__ import annotations

import argparse
import json
import time

from bench.failover import deploy, run_uninstall_all
from bench.real_clients import deployment, real_lab, uninstall_all
from bench.throughput import CLIENT, ThroughputRow, run_client, with_ratios
from wizard.engine.apply import run_apply
from wizard.lab import Lab, qemu
from wizard.lab.constants import HAPROXY_VIP, IPVS_VIP
from wizard.render import build_plan

THREADS = 4
CASES = (
    ("direct to the masters", None),
    ("kubeha local-nginx", "local-nginx"),
    ("kubeha local-haproxy", "local-haproxy"),
    ("kubeha haproxy-keepalived", "haproxy-keepalived"),
)


def targets(lab: Lab, strategy: str | None) -> list[list]:
    if strategy is None:
        return [[m.address, 6443] for m in lab.masters]
    if strategy == "haproxy-keepalived":
        return [[HAPROXY_VIP, 8443]]
    return [["127.0.0.1", 8443]]


def measure(lab: Lab, seconds: float, log=print) -> dict[str, list[ThroughputRow]]:
    client = lab.workers[0].name
    rows: dict[str, list[ThroughputRow]] = {"kept-alive": [], "new connection": []}
    for name, strategy in CASES:
        if strategy is not None:
            deploy(lab, strategy)
        for kind, fresh in (("kept-alive", False), ("new connection", True)):
            log(f"real throughput: {name}, {kind}")
            r = run_client(lab, client, targets(lab, strategy), THREADS, seconds, fresh)
            rows[kind].append(ThroughputRow(name, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]))
    return {kind: with_ratios(found) for kind, found in rows.items()}


def measure_guest(lab: Lab, seconds: float, log=print) -> dict[str, list[ThroughputRow]]:
    """The client on the QEMU guest q1: direct to the masters, then through ipvs."""
    guest = qemu.ensure_guests(1, log=lambda line: log(f"[qemu] {line}"))[0]
    dep = deployment(lab, "ipvs", (guest,))
    rows: dict[str, list[ThroughputRow]] = {"kept-alive": [], "new connection": []}

    def run_on_guest(name: str, targets: list[list]) -> None:
        for kind, fresh in (("kept-alive", False), ("new connection", True)):
            log(f"real throughput: {name}, {kind}")
            argv = ["python3", "-c", CLIENT, json.dumps(targets), str(THREADS), str(seconds)]
            proc = qemu.exec_in_guest(
                guest, [*argv, "new" if fresh else "kept"], timeout=seconds + 90, check=True
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows[kind].append(ThroughputRow(name, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]))

    run_on_guest("q1 (QEMU) direct to the masters", [[m.address, 6443] for m in lab.masters])
    if not run_apply(build_plan(dep.profile), dep.options, lambda _e: None).ok:
        raise RuntimeError(f"applying ipvs on {guest.name} failed")
    run_on_guest("q1 (QEMU) kubeha ipvs", [[IPVS_VIP, 6443]])
    return {kind: with_ratios(found) for kind, found in rows.items()}


def markdown(rows: dict[str, list[ThroughputRow]]) -> str:
    lines = [
        "| client | path | requests/s | p50 | p99 | errors | req/s ratio | p50 ratio | p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, found in rows.items():
        for r in found:
            lines.append(
                f"| {kind} | {r.path} | {r.rps:.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | "
                f"{r.errors} | {r.rps_ratio:.2f} | {r.p50_ratio:.2f} | {r.p99_ratio:.2f} |"
            )
    return "\n".join(lines)


def clean_up(lab: Lab) -> None:
    run_uninstall_all(lab)
    uninstall_all(lab)  # the guest's ipvs too


def main(argv=None) -> int:
    from bench.run import lab_lock
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.real_throughput", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per case and client kind")
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the lab lock")
    args = parser.parse_args(argv)
    require_root()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with lab_lock(not args.no_lock), real_lab(clean_up) as lab:
        rows = measure(lab, args.seconds)
        for kind, found in measure_guest(lab, args.seconds).items():
            rows[kind] += found
    print(f"real throughput, {started}, {THREADS} threads x {args.seconds:g} s:\n{markdown(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
