"""Figures of one real-client drill (``python -m bench.real_clients``) from the agents' records,
and the Markdown table of them.

Times are the host's wall clock (every nspawn node shares the kernel's; a QEMU guest's records
are moved onto it by bench.real_clients): the agents stamp what they see with ``time.time()``, the leases carry the holder's renewTime, kube-proxy's healthz its
own lastUpdated and currentTime.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime

STALL_S = 1.0  # a kept-alive request slower than this counts as stalled
TARGET_S = 3.0  # the brief's target: every client back within 3 s


@dataclass
class NodeRecords:
    """What one node's agent printed (see bench/real_agent.py)."""

    node: str
    events: list[tuple[float, int]] = field(default_factory=list)  # (seen at, write n)
    restarts: list[tuple[float, int, str]] = field(default_factory=list)
    ka: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, code)
    hz: list[tuple[float, int, float | None]] = field(default_factory=list)  # (t, code, stale)
    writes: list[tuple[int, float, float, int]] = field(default_factory=list)
    leases: list[tuple[float, str, str, float | None]] = field(default_factory=list)
    rules: list[tuple[float, int]] = field(default_factory=list)  # kube-proxy programmed n
    raw: list[dict] = field(default_factory=list)  # every record as printed, for --records

    def add(self, record: dict) -> None:
        self.raw.append(record)
        kind = record.get("k")
        if kind == "ev":
            self.events.append((record["t"], record["n"]))
        elif kind == "restart":
            self.restarts.append((record["t"], record["rc"], record["err"]))
        elif kind == "ka":
            self.ka.append((record["t0"], record["t1"], record["code"]))
        elif kind == "hz":
            stale = None
            last, now = go_time(record["last"]), go_time(record["now"])
            if last is not None and now is not None:
                stale = now - last
            self.hz.append((record["t"], record["code"], stale))
        elif kind == "rule":
            self.rules.append((record["t"], record["n"]))
        elif kind == "w":
            self.writes.append((record["n"], record["t0"], record["t1"], record["code"]))
        elif kind == "lease" and record["code"] == 200:
            self.leases.append((record["t"], record["name"], record["holder"], rfc3339(record)))


TIMED = ("t", "t0", "t1")  # the fields of an agent's record that hold its node's clock


def clock_offset(pongs: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(node clock - host clock, its error) from (host sent, node answered, host received)
    pings: the one with the shortest round trip, the node's time taken at its middle."""
    sent, answered, got = min(pongs, key=lambda p: p[2] - p[0])
    return answered - (sent + got) / 2, (got - sent) / 2


def on_host_clock(record: dict, offset: float) -> None:
    """Move a record's own times onto the host's clock (in place)."""
    for key in TIMED:
        if isinstance(record.get(key), float):
            record[key] -= offset


def go_time(text: str) -> float | None:
    """Seconds since the epoch of Go's time.String() ('2026-12-01 08:50:01.123456789 +0000 UTC
    m=+1.2'), as kube-proxy's healthz prints it."""
    match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? ([+-]\d{4})", text)
    if not match:
        return None
    base = datetime.strptime(f"{match.group(1)} {match.group(3)}", "%Y-%m-%d %H:%M:%S %z")
    return base.timestamp() + float(match.group(2) or 0)


def rfc3339(record: dict) -> float | None:
    text = record.get("renew") or ""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class DrillRow:
    strategy: str
    kind: str  # kill, cut, drain, cut VIP holder
    master: str
    watch_back_s: float | None  # worst node: a write seen this late; None: a node stuck
    watch_node: str
    watch_gap_s: float  # worst node: longest silence between events
    stuck: tuple[str, ...]
    restarts: int  # kubectl watches that ended and were re-run, all nodes
    write_gap_s: float  # the writer's own longest gap between acknowledged writes
    leases_s: float | None  # until both leases were renewed after the fault; None: not seen
    holders: str  # "kept" or which lease moved where
    proxy_back_s: float | None  # worst write-to-iptables time after the fault; None: never
    proxy_base_s: float | None  # the same before the fault; None: one not seen by the restore
    proxy_stale_s: float | None  # worst kube-proxy healthz staleness (currentTime - lastUpdated)
    ka_failed: int
    ka_lost: int
    ka_total: int
    ka_back_s: float

    @property
    def met(self) -> bool:
        back = self.watch_back_s
        proxy = self.proxy_back_s
        return (
            back is not None
            and back <= TARGET_S
            and self.ka_back_s <= TARGET_S
            and proxy is not None
            and proxy <= TARGET_S + (self.proxy_base_s or 0.0)
        )


def watch_figures(
    rec: NodeRecords,
    writes,
    fault: float,
    restore: float,
    seen=None,
    until: float | None = None,
    margin: float = 1.0,
):
    """(worst lag of a write acknowledged from the fault to ``margin`` s before the restore,
    None if one was never seen before ``until`` (the restore); longest silence between events
    from the fault to the restore).
    ``seen``: other (time, n) sightings than the watch's, e.g. kube-proxy's rules. A write
    counts as seen only by a sighting after it was sent: one before can only be an older value
    (the Service's port left by an earlier drill)."""
    seen = sorted(rec.events if seen is None else seen)
    until = restore if until is None else until
    lag = 0.0
    for n, t0, t1, code in writes:
        if code != 200 or not fault <= t1 <= restore - margin:
            continue
        first = next((t for t, m in seen if m >= n and t >= t0), None)
        if first is None or first > until:
            return None, _gap(seen, fault, restore)
        lag = max(lag, first - t1)
    return lag, _gap(seen, fault, restore)


def _gap(seen, start: float, end: float) -> float:
    times = [start] + [t for t, _ in seen if start < t < end] + [end]
    return max(b - a for a, b in itertools.pairwise(times))


NO_LEASES = "-"  # the holders of a drill that read no lease (ipvs: see bench.real_clients)


def lease_figures(records: list[NodeRecords], fault: float):
    rows = sorted(r for rec in records for r in rec.leases)
    if not rows:
        return None, NO_LEASES
    before, after, renewed = {}, {}, {}
    for t, name, holder, renew in rows:
        if t < fault:
            before[name] = holder
        after[name] = holder
        if renew is not None and renew > fault and name not in renewed:
            renewed[name] = renew - fault
    both = None if len(renewed) < 2 else max(renewed.values())
    moved = [
        f"{n.removeprefix('kube-')} {_moved(before[n], after[n])}"
        for n in sorted(after)
        if n in before and before[n] != after[n]
    ]
    kept = ",".join(sorted({h.split("_")[0] for h in before.values()}))
    return both, ("; ".join(moved) if moved else f"kept ({kept})")


def _moved(before: str, after: str) -> str:
    """'m1→m2', or 'm1 restarted' (the same node, a new process: it lost the lease and exited)."""
    old, new = before.split("_")[0], after.split("_")[0]
    return f"{old} restarted" if old == new else f"{old}→{new}"


def keepalive_figures(records: list[NodeRecords], fault: float, restore: float):
    """(failed: started after the fault, no 200; lost in flight: running at the fault, no 200;
    requests; back: from the fault to the end of the last bad or stalled one)."""
    failed = lost = total = 0
    back = 0.0
    for rec in records:
        for t0, t1, code in rec.ka:
            if t1 < fault or t0 > restore:
                continue
            total += 1
            bad = code != 200
            if bad and t0 < fault:
                lost += 1
            elif bad:
                failed += 1
            if bad or t1 - t0 > STALL_S:
                back = max(back, t1 - fault)
    return failed, lost, total, back


def proxy_figures(records: list[NodeRecords], writes, ready: float, fault: float, restore: float):
    """(worst time a write took to reach a worker's iptables after the fault, None: never before
    the restore; the same before the fault; worst healthz staleness after the fault)."""
    after: float | None = 0.0
    before: float | None = 0.0
    for rec in records:
        if not rec.hz:
            continue
        # Before: writes acknowledged from the start to a second before the fault, each seen
        # whenever it was (a slow kube-proxy's last ones only after the fault).
        base, _gap = watch_figures(rec, writes, ready, fault, seen=rec.rules, until=restore)
        before = None if base is None or before is None else max(before, base)
        # During: the writes that had this kube-proxy's usual time to arrive before the restore.
        margin = max(1.0, (base or 0.0) + 1.0)
        lag, _gap = watch_figures(rec, writes, fault, restore, seen=rec.rules, margin=margin)
        after = None if lag is None or after is None else max(after, lag)
    stale = [s for rec in records for t, _c, s in rec.hz if fault <= t <= restore and s is not None]
    return after, before, max(stale, default=None)


def drill_row(strategy, kind, master, records, excluded, ready, fault, restore) -> DrillRow:
    """``records``: every node's; ``excluded``: nodes not judged (a cut node is off the
    network: its clients cannot come back until it is)."""
    writes = sorted(w for rec in records for w in rec.writes)
    judged = [r for r in records if r.node not in excluded]
    lags, gaps, stuck = {}, {}, []
    for rec in judged:
        lag, gap = watch_figures(rec, writes, fault, restore)
        gaps[rec.node] = gap
        if lag is None:
            stuck.append(rec.node)
        else:
            lags[rec.node] = lag
    node = max(lags, key=lags.get) if lags else ""
    acked = [t1 for _n, _t0, t1, code in writes if code == 200 and fault - 5 <= t1 <= restore]
    write_gap = max((b - a for a, b in itertools.pairwise(acked)), default=0.0)
    leases_s, holders = lease_figures(records, fault)
    proxy_back, base, stale = proxy_figures(judged, writes, ready, fault, restore)
    failed, lost, total, back = keepalive_figures(judged, fault, restore)
    return DrillRow(
        strategy=strategy,
        kind=kind,
        master=master,
        watch_back_s=None if stuck else (lags[node] if node else 0.0),
        watch_node=node,
        watch_gap_s=max(gaps.values(), default=0.0),
        stuck=tuple(stuck),
        restarts=sum(1 for r in judged for t, _rc, _e in r.restarts if fault <= t <= restore),
        write_gap_s=write_gap,
        leases_s=leases_s,
        holders=holders,
        proxy_back_s=proxy_back,
        proxy_base_s=base,
        proxy_stale_s=stale,
        ka_failed=failed,
        ka_lost=lost,
        ka_total=total,
        ka_back_s=back,
    )


def _s(value: float | None, none: str = "never") -> str:
    return none if value is None else f"{value:.1f} s"


HEADER = (
    "| strategy | fault | watch back (worst node) | longest watch gap | stuck | watch re-runs "
    "| writes' own gap | leases renewed | lease holders | kube-proxy back (before) | healthz stale "
    "| kept-alive failed (lost in flight) | kept-alive back | 3 s target |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def markdown(rows: list[DrillRow]) -> str:
    lines = [HEADER.rstrip("\n")]
    for r in rows:
        back = "never" if r.watch_back_s is None else f"{r.watch_back_s:.1f} s ({r.watch_node})"
        lines.append(
            f"| {r.strategy} | {r.kind} {r.master} | {back} | {r.watch_gap_s:.1f} s "
            f"| {', '.join(r.stuck) or 'none'} | {r.restarts} | {r.write_gap_s:.1f} s "
            f"| {_s(r.leases_s, '-' if r.holders == NO_LEASES else 'never')} | {r.holders} "
            f"| {_s(r.proxy_back_s)} ({_s(r.proxy_base_s)}) | {_s(r.proxy_stale_s, '-')} "
            f"| {r.ka_failed} ({r.ka_lost}) of {r.ka_total} | {r.ka_back_s:.1f} s | {'met' if r.met else 'missed'} |"
        )
    return "\n".join(lines) + "\n"
