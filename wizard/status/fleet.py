"""Every node's view of every master, read from the nodes' agents.

Each node's agent serves Prometheus text (:mod:`wizard.agent.metrics`); this module asks every
node at once (a bounded pool, each ask bounded in time), folds each scrape into a
:class:`NodeStatus`, and never lets one node's silence or nonsense stop the others: a node that
does not answer, or answers what is not a kubeha agent's scrape, is a status with its error.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from wizard.agent.metrics import parse
from wizard.jsonlines import json_line
from wizard.netaddr import host_port

DEFAULT_CONCURRENCY = 64
ROUND_GRACE_S = 5.0  # a read's deadline: twice the per-node timeout and this (SSH's own hop)
MAX_SCRAPE = 1 << 20


@dataclass(frozen=True)
class Target:
    """Where one node's agent answers."""

    node: str
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{host_port(self.address, self.port)}/metrics"


@dataclass(frozen=True)
class MasterView:
    """One master as one node's balancer sees it."""

    master: str  # "ADDRESS:PORT", as the agent names it
    up: bool
    connections: int
    draining: bool
    check_failures: int
    check_ms: float
    changed_at: float  # wall clock of its last change (0: none since the agent started)


@dataclass(frozen=True)
class NodeStatus:
    """One node: its balancer, its list, each master; or why it could not be read."""

    node: str
    error: str = ""
    balancer_up: bool = False
    generation: int = 0
    source: str = ""
    masters: tuple[MasterView, ...] = field(default_factory=tuple)
    # With discovery: the cluster's Endpoints read, failed reads, when last read (0: never)
    discovery_reads: int = 0
    discovery_failures: int = 0
    discovery_read_at: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and self.balancer_up and any(m.up for m in self.masters)


def _label(labels: str) -> str:
    """The value of a one-label set (``master="10.0.0.1:6443"`` -> ``10.0.0.1:6443``)."""
    _, _, value = labels.partition("=")
    return value.strip('"').replace('\\"', '"').replace("\\\\", "\\")


def status_of(node: str, text: str) -> NodeStatus:
    """A scrape folded into a node's status; a scrape without kubeha's series is an error."""
    found = parse(text)
    if "kubeha_list_generation" not in found or "kubeha_master_up" not in found:
        return NodeStatus(node, error="the answer is not a kubeha agent's /metrics")

    def per_master(name: str) -> dict[str, float]:
        return {_label(k): v for k, v in found.get(name, {}).items()}

    up = per_master("kubeha_master_up")
    connections = per_master("kubeha_master_connections")
    draining = per_master("kubeha_master_draining")
    failures = per_master("kubeha_master_check_failures_total")
    seconds = per_master("kubeha_master_check_seconds")
    changed = per_master("kubeha_master_changed_timestamp_seconds")
    # A master that left the list is still counted by the agent (its counters go on): it is
    # not one of the node's masters. An agent without the series lists every master it counts.
    listed = per_master("kubeha_master_listed") if "kubeha_master_listed" in found else None
    sources = [_label(k) for k, v in found.get("kubeha_discovery_source", {}).items() if v == 1]
    masters = tuple(
        MasterView(
            master,
            up[master] == 1,
            int(connections.get(master, 0)),
            draining.get(master, 0) == 1,
            int(failures.get(master, 0)),
            round(seconds.get(master, 0.0) * 1000, 1),
            changed.get(master, 0.0),
        )
        for master in up
        if listed is None or listed.get(master, 0) == 1
    )
    return NodeStatus(
        node,
        balancer_up=found.get("kubeha_balancer_up", {}).get("", 0) == 1,
        generation=int(found["kubeha_list_generation"].get("", 0)),
        source=sources[0] if sources else "",
        masters=masters,
        discovery_reads=int(found.get("kubeha_discovery_reads_total", {}).get("", 0)),
        discovery_failures=int(found.get("kubeha_discovery_failures_total", {}).get("", 0)),
        discovery_read_at=found.get("kubeha_discovery_read_timestamp_seconds", {}).get("", 0.0),
    )


def http_fetch(target: Target, timeout_s: float) -> str:
    """One scrape over HTTP, bounded in time and size."""
    with urllib.request.urlopen(target.url, timeout=timeout_s) as answer:
        data: bytes = answer.read(MAX_SCRAPE)
        return data.decode("utf-8", "replace")


def ask(target: Target, fetch: Callable[[Target, float], str], timeout_s: float) -> NodeStatus:
    """One node's status; what went wrong (no answer, not an agent) is its error."""
    try:
        return status_of(target.node, fetch(target, timeout_s))
    except (OSError, urllib.error.URLError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return NodeStatus(target.node, error=f"{target.url}: {reason}")


def read_fleet(
    targets: Sequence[Target],
    fetch: Callable[[Target, float], str] = http_fetch,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout_s: float = 3.0,
) -> list[NodeStatus]:
    """Every node's status, in the targets' order, asked ``concurrency`` at a time."""
    if not targets:
        return []
    # A fetch bounds itself (HTTP: ``timeout_s``; over SSH: the command's timeout), but an SSH
    # connection to a node that vanished may wait far longer (a forwarder that accepts and never
    # gives the banner): the read ends at its own deadline, and such a node is an error in it.
    deadline_s = 2 * timeout_s + ROUND_GRACE_S
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets))))
    try:
        futures = [pool.submit(ask, target, fetch, timeout_s) for target in targets]
        wait(futures, timeout=deadline_s)
        return [
            f.result()
            if f.done()
            else NodeStatus(t.node, error=f"{t.url}: no answer within {deadline_s:g} s")
            for f, t in zip(futures, targets, strict=True)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def masters_of(statuses: Iterable[NodeStatus]) -> list[str]:
    """Every master any node names, once, in the order first seen."""
    return list(dict.fromkeys(m.master for s in statuses for m in s.masters))


def to_json(statuses: Sequence[NodeStatus], now: float | None = None) -> str:
    """``kubeha status --json``: one line of kubeha's JSON (docs/JSON.md, ``kind: "status"``):
    when it was read, whether every node is healthy, and every node."""
    return json_line(
        "status",
        {
            "read_at": time.time() if now is None else now,
            "ok": bool(statuses) and all(s.ok for s in statuses),
            "nodes": [asdict(s) for s in statuses],
        },
    )
