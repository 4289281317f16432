"""Replacing every master with discovery on, against a re-apply over SSH: ``python -m
bench.master_replace`` (root, the lab; run it under ``flock /run/kubeha-lab-user.lock``).

``--mode discovery`` (one lab hold): the real control plane, local-haproxy applied with the node
agent, discovery and ``[clients] repoint`` (every kubeconfig through the node's balancer), the
drill's clients on every node (bench/real_agent.py: a kept-alive GET every 0.1 s, sent once more
on a new connection when its reused one was closed before any answer, as Go's transport does and
counted apart; a ``kubectl get --watch``; a writer through the balancer on w1). Then:

1. ``kubeha masters restart`` (every master's apiserver restarted in turn, each once every node
   has the last one back);
2. m1 -> m4, m2 -> m5, m3 -> m6 one after another: the lab adds the new master (etcd member and
   all, wizard.lab.masters), ``kubeha masters replace`` runs (in this process: its SSH
   connections counted by node), the lab removes the old one (`lab remove-master`:
   its apiserver stopped gracefully, etcd's leadership moved away if it led, its member removed).

Per step and node: the seconds from the new master's address first in the ``default/kubernetes``
Endpoints (polled on w1 every 0.2 s) to the node's agent marking it up (its
``kubeha_master_changed_timestamp_seconds``: the balancer's check passed, the server enabled).
A node's clients stop before the lab removes it; a removed master's clients count until then.

``--mode ssh``: the same lab and profile with discovery off: m4 added, ``kubeha masters
replace m1 -> m4`` re-applies every node over SSH; the same figures.

Prints one JSON document (``--out FILE`` too) that docs/BENCHMARKS.md's rows come from.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.real_clients import Agent, deployment, kubectl, prepare, uninstall_all
from bench.status_follow import StatusFollower, step_changes
from wizard.agent.metrics import parse
from wizard.cli import main as kubeha
from wizard.engine.apply import run_apply
from wizard.engine.connector import SshConnector
from wizard.engine.model import ApplyOptions
from wizard.lab import Lab, up
from wizard.lab import masters as lab_masters
from wizard.profile import Profile
from wizard.profile_io import save_profile
from wizard.render import build_plan
from wizard.strategies.node_agent import AgentTable

SCRAPE = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:9446/metrics', timeout=5).read().decode())"
)
STEPS = (("m1", "m4"), ("m2", "m5"), ("m3", "m6"))
POLL_S = 0.2
USE_TIMEOUT_S = 120.0
HOLD_S = 45.0  # after each replacement, the clients still running: >= 10,000 requests in all


def log(line: str) -> None:
    print(f"[masters] {line}", flush=True)


def profile_for(lab: Lab, discovery: bool) -> Profile:
    base = deployment(lab, "local-haproxy").profile  # [clients] repoint, the lab's kubeconfigs
    agent = dataclasses.replace(base.table("agent", AgentTable), enabled=True, discovery=discovery)
    return base.with_table("agent", agent)


def views(lab: Lab, name: str) -> dict[str, tuple[bool, float]]:
    """A node's agent: per master, (up, when its up last changed: wall clock)."""
    text = lab.exec_in_node(name, ["python3", "-c", SCRAPE], timeout=20).stdout
    found = parse(text)

    def master(label: str) -> str:
        return label.split('"')[1]

    up = {master(k): v == 1 for k, v in found.get("kubeha_master_up", {}).items()}
    when = found.get("kubeha_master_changed_timestamp_seconds", {})
    return {m: (u, when.get(f'master="{m}"', 0.0)) for m, u in up.items()}


def discovery_health(lab: Lab, names: list[str]) -> dict[str, dict[str, int]]:
    """Per node, its agent's reads of the Endpoints and how many failed (its /metrics): a watch
    that ends too old (410) or cannot be read counts as a failure."""
    found: dict[str, dict[str, int]] = {}
    for name in names:
        metrics = parse(lab.exec_in_node(name, ["python3", "-c", SCRAPE], timeout=20).stdout)
        found[name] = {
            "reads": int(metrics.get("kubeha_discovery_reads_total", {}).get("", 0)),
            "failures": int(metrics.get("kubeha_discovery_failures_total", {}).get("", 0)),
        }
    return found


def endpoints(lab: Lab, on: str) -> set[str]:
    got = kubectl(lab, on, "get", "endpoints", "kubernetes", "-n", "default", "-o", "json")
    if got.returncode != 0:
        return set()
    data = json.loads(got.stdout)
    return {
        f"{a['ip']}:{p['port']}"
        for s in data.get("subsets") or ()
        for a in s.get("addresses") or ()
        for p in s.get("ports") or ()
    }


class EndpointWatch:
    """When each ``ADDRESS:PORT`` was first seen in the Endpoints (polled on one node)."""

    def __init__(self, lab: Lab, on: str) -> None:
        self.first: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(lab, on), daemon=True)
        self._thread.start()

    def _run(self, lab: Lab, on: str) -> None:
        for _ in range(100_000):
            if self._stop.is_set():
                return
            now = time.time()
            for member in endpoints(lab, on):
                self.first.setdefault(member, now)
            self._stop.wait(POLL_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def wait_used(lab: Lab, nodes: list[str], member: str, timeout: float) -> dict[str, float]:
    """Per node: the wall clock this bench first saw its agent report ``member`` up (polled,
    about 1 s apart over the nodes)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        for name in nodes:
            if name not in seen and views(lab, name).get(member, (False, 0.0))[0]:
                seen[name] = time.time()
        if len(seen) == len(nodes):
            return seen
        time.sleep(0.2)
    raise RuntimeError(f"{member} not up on {sorted(set(nodes) - set(seen))} in {timeout} s")


def applied_at(lab: Lab, name: str, member: str, since: float) -> float | None:
    """When the node's agent gave its balancer a list with ``member`` active (its journal's
    ``list generation N from endpoints: {...} -> {...}`` line, to the microsecond)."""
    argv = ["journalctl", "-u", "kubeha-agent.service", "-o", "short-unix", "--no-pager"]
    text = lab.exec_in_node(name, [*argv, f"--since=@{int(since) - 1}"], timeout=30).stdout
    for line in text.splitlines():
        stamp, _, said = line.partition(" ")
        if "list generation" in said and f"'{member}': 'active'" in said.rsplit(" -> ", 1)[-1]:
            try:
                return float(stamp)
            except ValueError:
                continue
    return None


def counting() -> tuple[Counter[str], Callable[[], None]]:
    """SSH connections the in-process kubeha opens, by node (undo with the callable)."""
    opened: Counter[str] = Counter()
    original = SshConnector.__call__

    def spy(self: SshConnector, name: str) -> Any:
        opened[name] += 1
        return original(self, name)

    SshConnector.__call__ = spy  # type: ignore[method-assign]

    def undo() -> None:
        SshConnector.__call__ = original  # type: ignore[method-assign]

    return opened, undo


def replace_step(
    lab: Lab,
    path: Path,
    old: str,
    new: str,
    nodes: list[str],
    watch: EndpointWatch | None,
    follower: StatusFollower | None = None,
) -> dict[str, Any]:
    old_member = f"{lab.node(old).address}:6443"
    added = lab_masters.add_master(log=log)
    lab.refresh()
    member = f"{added.address}:6443"
    t0 = time.time()
    opened, undo = counting()
    try:
        code = kubeha(
            ["masters", "replace", str(path), "--master", old, "--name", new,
             "--address", added.address, "--ssh-host", added.ssh_host,
             "--ssh-port", str(added.ssh_port), "--timeout", "300", "--yes"]
        )  # fmt: skip
    finally:
        undo()
    command_s = time.time() - t0
    if code != 0:
        raise RuntimeError(f"kubeha masters replace {old} -> {new}: exit {code}")
    used = wait_used(lab, nodes, member, USE_TIMEOUT_S)
    appeared = watch.first.get(member) if watch else None
    began = appeared or t0
    applied = {n: applied_at(lab, n, member, began - 60) for n in nodes}
    workers = sum(v for k, v in opened.items() if k.startswith("w"))
    step = {
        "step": f"{old} -> {new}",
        "ssh_sessions": dict(opened),
        "ssh_to_workers": workers,
        "command_s": round(command_s, 1),
        "endpoint_at": appeared,
        "command_at": t0,
        "new_member": member,
        "old_member": old_member,
        # the agent's own journal: its balancer took the list with the new master active
        "balancer_after_endpoint_s": {
            n: round(t - appeared, 2) if (t and appeared) else None for n, t in applied.items()
        },
        # polled: this bench saw the agent report it up (its check passed)
        "seen_up_after_endpoint_s": (
            {n: round(t - appeared, 2) for n, t in used.items()} if appeared else None
        ),
        "seen_up_after_command_start_s": {n: round(t - t0, 2) for n, t in used.items()},
    }
    if follower is not None:  # what `kubeha status --follow` showed of this step, per node
        time.sleep(3)  # its next reads (every 0.5 s, over SSH) catch up
        step["status_follow_after_endpoint_s"] = step_changes(
            follower.changes, t0 - 5, member, old_member, began
        )
    log(json.dumps(step))
    return step


def followed_again(step: dict[str, Any], follower: StatusFollower) -> None:
    """What `kubeha status --follow` showed of ``step`` read again once the old master was
    removed (the step's own reading came before its removal)."""
    step["status_follow_after_endpoint_s"] = step_changes(
        follower.changes,
        step["command_at"] - 5,
        step["new_member"],
        step["old_member"],
        step["endpoint_at"] or step["command_at"],
    )


def start_clients(
    lab: Lab,
    names: list[str],
    duration: float,
    ka_interval: float = 0.1,
    write_interval: float = 0.5,
    watches: int = 1,
) -> dict[str, Agent]:
    """The drill's clients on ``names``: a kept-alive GET every ``ka_interval`` and ``watches``
    watches each, through the node's balancer (the lab's kubeconfigs are repointed); the
    writer on w1, a PATCH every ``write_interval``."""
    base = {
        "kubeconfig": "/root/.kube/config",
        "namespace": "kubeha-bench",
        "service": "tick",
        "duration": duration,
        "direct": ["https://127.0.0.1:8443"],  # the writer too goes through its balancer
        "ka_interval": ka_interval,
        "ka_timeout": 5,
        "retry_reused": True,  # as Go's transport: a GET on a reused, closed connection once more
        "poll_interval": 0.5,
        "write_interval": write_interval,
        "max_writes": int(duration / write_interval) + 1,
        "healthz": False,
        "leases": False,
        "watches": watches,
    }
    return {n: Agent(lab, n, dict(base, writer=n == "w1"), None) for n in names}


def tally(agents: list[Agent], since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
    """Requests (kept-alive GETs), the writer's PATCHes and the watches in [since, until):
    failed counts, watch restarts, and the longest gap between a node's watch events (a stuck
    watch: a long gap while the writer writes every 0.5 s)."""
    ka = [(a, c) for g in agents for a, _b, c in g.records.ka if since <= a < until]
    writes = [(a, c) for g in agents for _n, a, _b, c in g.records.writes if since <= a < until]
    gaps = {}
    for g in agents:
        times = sorted(t for t, _n in g.records.events if since <= t < until)
        if len(times) > 1:
            gaps[g.records.node] = round(max(b - a for a, b in itertools.pairwise(times)), 2)
    retried = sum(
        1
        for g in agents
        for r in g.records.raw
        if r.get("k") == "ka" and r.get("retried") and since <= r.get("t0", 0) < until
    )
    failures = sorted(
        (round(a, 2), g.records.node, c)
        for g in agents
        for a, _b, c in g.records.ka
        if since <= a < until and c != 200
    )
    return {
        "requests": len(ka),
        "failed": sum(c != 200 for _a, c in ka),
        # which node, when (wall clock) and what: where a failure came from, for the first 20
        "failures": [{"t": t, "node": n, "code": c} for t, n, c in failures[:20]],
        "retried_on_a_closed_connection": retried,
        "writes": len(writes),
        "writes_failed": sum(c != 200 for _a, c in writes),
        "watch_restarts": sum(
            1 for g in agents for t, _rc, _e in g.records.restarts if since <= t < until
        ),
        "longest_watch_gap_s": gaps,
    }


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def run(mode: str, hold_s: float = HOLD_S) -> dict[str, Any]:
    lab = up(3, 2, 0, control_plane="real", replace=True, log=log)
    uninstall_all(lab)
    profile = profile_for(lab, discovery=mode == "discovery")
    applied = run_apply(build_plan(profile), ApplyOptions(verify_timeout=60), lambda _e: None)
    if not applied.ok:
        raise RuntimeError(f"apply: {[(n.node, n.reason) for n in applied.nodes if not n.ok]}")
    path = save_profile(profile, Path("/tmp/kubeha-bench-masters.toml"))
    nodes = [n.name for n in lab.nodes]
    for m in lab.masters:
        wait_used(lab, nodes, f"{m.address}:6443", USE_TIMEOUT_S)
    prepare(lab)
    result: dict[str, Any] = {"mode": mode}
    if mode == "ssh":
        watch = EndpointWatch(lab, "w1")
        try:
            # m1 leaves the profile: the re-apply does not reach it (its list stays the old one)
            staying = [n for n in nodes if n != "m1"]
            result["steps"] = [replace_step(lab, path, "m1", "m4", staying, watch)]
        finally:
            watch.stop()
        result.update(summary(result["steps"]))
        return result
    agents = start_clients(lab, nodes, 900)
    every = list(agents.values())
    try:
        time.sleep(3)
        began = time.time()
        code = kubeha(["masters", "restart", str(path), "--yes", "--timeout", "300"])
        ended = time.time()
        result["restart"] = {"exit": code, "seconds": round(ended - began, 1)}
        result["restart"].update(tally(every, began, ended))
        log(json.dumps(result["restart"]))
        watch = EndpointWatch(lab, "w1")
        # An operator's view beside it: kubeha status --follow (its own SSH connection to each
        # node, an observer: not counted as the command's sessions).
        follower = StatusFollower(path, 0.5, 1800, Path("/tmp/kubeha-bench-status-follow.err"))
        steps = []
        try:
            for old, new in STEPS:
                living = [n for n in nodes if n in agents]
                steps.append(replace_step(lab, path, old, new, living, watch, follower))
                agents.pop(old).stop()  # its clients end before its node goes
                lab_masters.remove_master(old, log=log)
                lab.refresh()
                time.sleep(hold_s)  # the cluster as an operator leaves it between two steps
                followed_again(steps[-1], follower)  # the old master's removal came since
        finally:
            watch.stop()
            follower.stop()
        result["steps"] = steps
        # everything the follower printed, for a step it showed nothing of (its stderr is in
        # /tmp/kubeha-bench-status-follow.err)
        result["status_follow"] = {"changes": follower.changes, "exit": follower.exit_code}
        result["replacement"] = tally(every, ended, time.time())
        result["discovery_reads"] = discovery_health(lab, [n for n in nodes if n in agents])
    finally:
        for agent in agents.values():
            agent.stop()
    result["whole_run"] = tally(every)
    result.update(summary(result["steps"]))
    return result


def summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and spreads over every step and node."""

    def over(key: str) -> dict[str, float]:
        return spread([d for s in steps for d in (s.get(key) or {}).values() if d is not None])

    return {
        "balancer_after_endpoint": over("balancer_after_endpoint_s"),
        "seen_up_after_endpoint": over("seen_up_after_endpoint_s"),
        "seen_up_after_command_start": over("seen_up_after_command_start_s"),
        "ssh_to_workers": sum(s["ssh_to_workers"] for s in steps),
        "command": spread([s["command_s"] for s in steps]),
        "status_new_up": followed(steps, "new up"),
        "status_old_removed": followed(steps, "old removed"),
    }


def followed(steps: list[dict[str, Any]], label: str) -> dict[str, float]:
    """The spread of one change as ``kubeha status --follow`` showed it, over steps and nodes."""
    return spread(
        [
            seconds
            for s in steps
            for per_node in (s.get("status_follow_after_endpoint_s") or {}).values()
            for name, seconds in per_node.items()
            if name == label
        ]
    )


def markdown(result: dict[str, Any]) -> str:
    """docs/BENCHMARKS.md's rows from one ``--mode both`` (or one mode's) result."""

    def fig(d: dict[str, float]) -> str:
        return f"{d['median']:.1f} s ({d['min']:.1f}-{d['max']:.1f})" if d else "-"

    rows = ["| | discovery on | re-apply over SSH (discovery off) |", "|---|---|---|"]
    on, off = result.get("discovery", {}), result.get("ssh", {})

    def both(label: str, get: Callable[[dict[str, Any]], str]) -> None:
        rows.append(f"| {label} | {get(on) if on else '-'} | {get(off) if off else '-'} |")

    both("steps", lambda r: ", ".join(s["step"] for s in r["steps"]))
    both("SSH sessions to workers", lambda r: str(r["ssh_to_workers"]))
    both(
        "SSH sessions in all",
        lambda r: str(sum(sum(s["ssh_sessions"].values()) for s in r["steps"])),
    )
    both("`kubeha masters replace` wall time", lambda r: fig(r["command"]))
    both(
        "endpoint -> node's balancer takes it (agent's journal)",
        lambda r: fig(r["balancer_after_endpoint"]),
    )
    both(
        "endpoint -> node's agent reports it up (polled)",
        lambda r: fig(r["seen_up_after_endpoint"]),
    )
    both(
        "command start -> node's agent reports it up",
        lambda r: fig(r["seen_up_after_command_start"]),
    )
    both(
        "endpoint -> `kubeha status --follow` shows it up (reads every 0.5 s)",
        lambda r: fig(r.get("status_new_up") or {}),
    )
    both(
        "endpoint -> `kubeha status --follow` shows the old one removed",
        lambda r: fig(r.get("status_old_removed") or {}),
    )
    if on.get("discovery_reads"):
        reads = on["discovery_reads"].values()
        rows.append(
            f"| the agents' reads of the Endpoints (lists and watch events), failed | "
            f"{sum(r['reads'] for r in reads):,}, {sum(r['failures'] for r in reads)} failed "
            f"({len(reads)} nodes) | - |"
        )
    if on.get("replacement"):
        rep = on["replacement"]
        rows.append(
            f"| requests during the replacements | {rep['requests']:,}, {rep['failed']} failed "
            f"({rep['retried_on_a_closed_connection']} sent again on a new connection) | - |"
        )
        rows.append(
            f"| writes during the replacements | {rep['writes']}, {rep['writes_failed']} failed"
            " | - |"
        )
        gap = max(rep["longest_watch_gap_s"].values(), default=0.0)
        rows.append(
            f"| watches during the replacements | {rep['watch_restarts']} re-runs, longest gap "
            f"{gap:.1f} s | - |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.master_replace", description=__doc__)
    parser.add_argument("--mode", choices=("discovery", "ssh", "both"), default="discovery")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--hold", type=float, default=HOLD_S, help="seconds after each replacement (default 45)"
    )
    args = parser.parse_args(argv)
    modes = ("discovery", "ssh") if args.mode == "both" else (args.mode,)
    result: dict[str, Any] = {}
    for mode in modes:  # each mode's figures printed as soon as it has them
        result[mode] = run(mode, args.hold)
        print(json.dumps({mode: result[mode]}), flush=True)
    text = json.dumps(result, indent=2)
    print(text)
    print(markdown(result))
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
