"""Throughput and latency through each proxy against going direct to the masters: a small
Python client inside a worker node, N threads each on one kept-alive HTTPS connection asking
/readyz for a fixed time. Ratios to direct; the stand-in apiserver is the same in every case."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.failover import deploy
from wizard.lab import Lab
from wizard.lab.constants import HAPROXY_VIP

CLIENT = r"""
import http.client, json, ssl, sys, threading, time
targets, threads, seconds = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
fresh = len(sys.argv) > 4 and sys.argv[4] == "new"  # a new connection (TCP + TLS) per request
ctx = ssl._create_unverified_context()
lat, errors, lock = [], [0], threading.Lock()
def work(i):
    host, port = targets[i % len(targets)]
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    mine, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        try:
            conn.request("GET", "/readyz"); conn.getresponse().read()
            mine.append(time.perf_counter() - t)
            if fresh:
                conn.close(); conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
        except Exception:
            with lock: errors[0] += 1
            conn.close(); conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    with lock: lat.extend(mine)
ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
[t.start() for t in ts]; [t.join(seconds + 30) for t in ts]
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else 0.0
print(json.dumps({"requests": len(lat), "errors": errors[0], "rps": len(lat) / seconds,
                  "p50_ms": q(0.5) * 1000, "p99_ms": q(0.99) * 1000}))
"""


@dataclass(frozen=True)
class ThroughputRow:
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rps_ratio: float = 1.0
    p50_ratio: float = 1.0
    p99_ratio: float = 1.0


def run_client(
    lab: Lab, node: str, targets, threads: int, seconds: float, new_connections: bool = False
) -> dict:
    mode = "new" if new_connections else "kept"
    proc = lab.exec_in_node(
        node,
        ["python3", "-c", CLIENT, json.dumps(targets), str(threads), str(seconds), mode],
        timeout=seconds + 60,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(lab: Lab, seconds: float, threads: int = 4, short: bool = False, log=print):
    client = lab.workers[0].name
    direct = [[m.address, 6443] for m in lab.masters]
    cases = [("direct to the masters", None, direct)]
    cases.append(("kubeha local-nginx", "local-nginx", [["127.0.0.1", 8443]]))
    if not short:
        cases.append(("kubeha haproxy-keepalived", "haproxy-keepalived", [[HAPROXY_VIP, 8443]]))
        cases.append(("kubeha local-haproxy", "local-haproxy", [["127.0.0.1", 8443]]))
    results = []
    for name, strategy, targets in cases:
        if strategy is not None:
            deploy(lab, strategy)
        log(f"throughput: {name}")
        r = run_client(lab, client, targets, threads, seconds)
        results.append(ThroughputRow(name, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]))
    return with_ratios(results)


def with_ratios(rows: list[ThroughputRow]) -> list[ThroughputRow]:
    """Each row rounded, with its ratios to the first (going direct)."""
    base = rows[0]
    return [
        ThroughputRow(
            r.path,
            round(r.rps, 1),
            round(r.p50_ms, 2),
            round(r.p99_ms, 2),
            r.errors,
            round(r.rps / base.rps, 2) if base.rps else 0.0,
            round(r.p50_ms / base.p50_ms, 2) if base.p50_ms else 0.0,
            round(r.p99_ms / base.p99_ms, 2) if base.p99_ms else 0.0,
        )
        for r in rows
    ]
