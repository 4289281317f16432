"""docs/BENCHMARKS.md and its PNG charts from one bench run's figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.deploy_scale import DeployRow
from bench.failover import FailoverRow
from bench.throughput import ThroughputRow
from bench.wizard_report import wizard_lines


@dataclass
class Results:
    started: str
    mode: str  # "full" or "short"
    machine: str
    timing: str
    failover: list[FailoverRow] = field(default_factory=list)
    deploy: list[DeployRow] = field(default_factory=list)
    throughput: list[ThroughputRow] = field(default_factory=list)
    wizard: dict = field(default_factory=dict)
    ipvs_note: str = ""
    hold_s: float = 0.0


def _watch(value: float | None) -> str:
    return "never (stalled)" if value is None else f"{value:.1f} s"


def failover_chart(rows: list[FailoverRow], path: Path, hold_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(dict.fromkeys(r.config for r in rows))
    kinds = list(dict.fromkeys(r.kind for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(1, len(kinds))
    for k, kind in enumerate(kinds):
        by = {r.config: r for r in rows if r.kind == kind}
        xs = [i + k * width for i in range(len(configs))]
        failed = [by[c].failed + by[c].lost_in_flight if c in by else 0 for c in configs]
        axes[0].bar(xs, failed, width, label=f"{kind}")
        watch = []
        for c in configs:
            r = by.get(c)
            watch.append(0 if r is None else (hold_s if r.watch_back_s is None else r.watch_back_s))
        bars = axes[1].bar(xs, watch, width, label=f"{kind}")
        for bar, c in zip(bars, configs, strict=True):
            r = by.get(c)
            if r is not None and r.watch_back_s is None:
                bar.set_hatch("//")
                axes[1].annotate(
                    "never",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    for ax in axes:
        ax.set_xticks([i + width * (len(kinds) - 1) / 2 for i in range(len(configs))])
        ax.set_xticklabels([c.replace(" ", "\n", 1) for c in configs], fontsize=8)
        ax.legend(title="fault")
    axes[0].set_title("requests that got no answer (all clients)")
    axes[1].set_title("worst time until every watch is back (s)")
    axes[1].axhline(5, color="grey", linestyle="--", linewidth=1)
    fig.suptitle("A master taken away during request loops and watch streams (lab)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def deploy_chart(rows: list[DeployRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = rows[0].seconds or 1.0
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [r.nodes for r in rows], [r.seconds / base for r in rows], marker="o", label="kubeha apply"
    )
    ax.plot(
        [r.nodes for r in rows],
        [r.nodes for r in rows],
        linestyle="--",
        color="grey",
        label="one node after another",
    )
    ax.set_xlabel("nodes")
    ax.set_ylabel("wall time / wall time for 1 node")
    ax.set_title("Deploy wall time (local-nginx, lab)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def throughput_chart(rows: list[ThroughputRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.path for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.27
    for k, (label, values) in enumerate(
        (
            ("requests/s", [r.rps_ratio for r in rows]),
            ("p50 latency", [r.p50_ratio for r in rows]),
            ("p99 latency", [r.p99_ratio for r in rows]),
        )
    ):
        ax.bar([i + k * width for i in range(len(rows))], values, width, label=label)
    ax.axhline(1, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks([i + width for i in range(len(rows))])
    ax.set_xticklabels([n.replace(" ", "\n", 1) for n in names], fontsize=8)
    ax.set_ylabel("ratio to direct")
    ax.set_title("Through each proxy, as a ratio to going direct (lab)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# Written by ``python -m bench.real_clients`` and ``python -m bench.real_throughput`` (their own
# runs): this report keeps them as they were.
REAL_CLIENTS = "## Real control plane: real clients"
REAL_THROUGHPUT = "## Real control plane: throughput"
# Written by the IPv6 lab test's run and ``python -m bench.fanout_cost``: kept as well.
IPV6 = "## Failover on IPv6 (a dual-stack lab)"
FANOUT = "## Fleet fan-out: what a node costs the controller"
# Written by ``python -m bench.master_replace``: kept as well.
MASTERS = "## Master operations with discovery (the node agent)"


def kept_section(out_md: Path, heading: str) -> list[str]:
    """The section ``heading`` of the report already at ``out_md`` (up to the next ``## ``
    heading), as lines; none when there is no such report or section."""
    try:
        old = out_md.read_text().splitlines()
    except OSError:
        return []
    if heading not in old:
        return []
    start = old.index(heading)
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    return old[start:end]


def write(results: Results, out_md: Path, charts: Path) -> list[Path]:
    """Write the markdown and the charts; returns the PNG paths."""
    charts.mkdir(parents=True, exist_ok=True)
    pngs = []
    rel = Path("." if charts == out_md.parent else charts.name)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench{' --short' if results.mode == 'short' else ''}` on the lab "
        f"({results.started}; {results.machine}). Every figure below comes from that one run; "
        "run it again to reproduce them (root, the lab; about ten minutes).",
        "",
        "## 1. Failover: a master taken away",
        "",
        f"The drill of `kubeha verify --drill` ({results.timing}): every node other than a cut "
        "master runs a loop of HTTPS requests to /version through its load balancer (each a new "
        "connection, curl's limit 5 s), a kept-alive client asking the same over one connection "
        "it keeps (re-opened when it ends, as client-go does) and 3 watch streams, while one "
        "master that does not hold a VIP is killed (its process gets SIGKILL: clients see RST), "
        "cut (its host drops off the network: no answer at all) or drained (a graceful stop as "
        "an upgrade does it: /readyz fails for 6 s while every request is served, then the "
        "listener closes and the watches end), then restored. *cut VIP holder*: the node that "
        "holds the haproxy-keepalived VIP is cut, keepalived moves the VIP in about 3 s. "
        "Summed over the clients:",
        "",
        "- **failed**: requests that started after the fault and got no 200 — the load "
        "balancer's responsibility;",
        "- **lost in flight**: requests already running at the fault that got no 200 (no TCP "
        "proxy can replay bytes already sent to the master that died);",
        "- **stalled**: 200 after more than 1 s; **recovered**: worst time from the fault until "
        "every request succeeded quickly again;",
        "- **watch back**: worst time from the fault until every interrupted watch stream "
        "delivered events again (the lab apiserver sends one a second); *never*: still silent "
        f"when the master came back {results.hold_s:g} s later;",
        "- **kept-alive**: the kept-alive clients' requests that failed (or were lost in flight) "
        "of all they sent, and the worst time from the fault until their last bad request "
        "ended.",
        "",
    ]
    if results.failover:
        path = charts / "failover.png"
        failover_chart(results.failover, path, results.hold_s)
        pngs.append(path)
        lines += [f"![failover]({rel / path.name})", ""]
        lines += table(
            [
                "config",
                "fault",
                "requests",
                "failed",
                "lost in flight",
                "stalled >1 s",
                "recovered",
                "watches cut",
                "watch back",
                "kept-alive failed",
                "kept-alive back",
            ],
            [
                [
                    r.config,
                    f"{r.kind} {r.master}",
                    str(r.requests),
                    str(r.failed),
                    str(r.lost_in_flight),
                    str(r.stalled),
                    f"{r.recovered_s:.1f} s",
                    str(r.watches_cut),
                    _watch(r.watch_back_s),
                    f"{r.ka_failed}/{r.ka_requests}" if r.ka_requests else "-",
                    f"{r.ka_back_s:.1f} s" if r.ka_requests else "-",
                ]
                for r in results.failover
            ],
        )
        lines += [""]
    lines += [
        (
            f"**ipvs**: {results.ipvs_note}"
            if any(r.config.startswith("kubeha ipvs") for r in results.failover)
            else "**ipvs**: not measured in this run (the short run leaves it out)."
        ),
        "",
        "What changed the figures (kubeha's generated configs, before → after, drill on the lab):",
        "",
        "- local-nginx, cut: a watch stream to the cut master stalled until the master came back "
        "(open-source nginx has no active health checks). kubeha now installs "
        "`kubeha-session-cutter` beside the proxy: it probes every master's /readyz and, after "
        "`health_check.fall` failures, destroys every socket to it (`ss -K`); nginx closes the "
        "client side and the client re-opens its watch on a live master: back in 2.6–4.0 s.",
        "- haproxy-keepalived, cut: `on-marked-down shutdown-sessions` cut the stalled watches, "
        "but also killed the requests still connecting to the master as it was marked down: "
        "1 failed request on most clients. kubeha dropped it for the same session cutter, whose "
        "destroyed sockets haproxy treats as a connection error and retries on another master "
        "(`option redispatch 1`, `retries 3`): 0 failed, watches back in under 4 s.",
        "- haproxy-keepalived, the VIP holder cut: a watch through the old holder never learned "
        "that the VIP moved and stayed silent for more than 20 s (client-go waits 30 s + 15 s). "
        "Every node now runs `kubeha-vip-follower`: when the VIP's neighbour entry takes the new "
        "holder's MAC (its gratuitous ARP) it destroys the node's connections to VIP:port, and "
        "the client reconnects to the new holder at once.",
        "- local-nginx, cut: the session cutter's probe now gives up on a connect after four "
        "times the slower of the last two TCP + TLS connects (at least 0.5 s) instead of the "
        "whole timeout: worst watch back 2.8 s (was 3.3 s), requests recovered 2.6 s (was 4.4 s).",
        "- drain: a draining master answers /readyz with 500 while it serves every request, so "
        "the drill's requests ask /version, and the session cutter destroys only the sockets idle "
        "on the send side for 0.5 s (a watch, a request whose answer never came): a request a "
        "draining master is still answering is spared (it failed 1 per drill before). What "
        "local-nginx still loses on a drain (0 to 2 requests, all at the listener's close) is "
        "the race open-source nginx cannot avoid without an active check: it keeps opening new "
        "connections on the draining master until the listener closes.",
        "- local-haproxy (`python -m bench.local_haproxy_variants` puts its settings side by "
        "side): with `on-marked-down shutdown-sessions` a cut failed 1 to 4 requests per drill "
        "(the requests still connecting to the master as it is marked down are killed, not "
        "retried) and, combined with keepalive, a drain failed one it was still answering; "
        "haproxy's checks alone left the cut master's watches silent until it came back. kubeha "
        "uses TCP keepalive and a user timeout of fall × interval on each server line (haproxy "
        "2.6 ignores `tcp-ut` on a `default-server` line: the kept-alive client then waited out "
        "its 5 s) and a 0.5 s connect timeout with redispatch: 0 failed, watches and kept-alive "
        "clients back within 2.5 s, the session cutter not needed.",
        "",
        "The seed guides' configs are installed over a kubeha deploy (same nodes, same VIP for "
        "haproxy) with only what a package install needs added; see bench/seeds.py. Guide 000 "
        "balances by `hash $remote_addr consistent`: behind a proxy on 127.0.0.1 every client "
        "has the same address, so each node sends all its traffic to one master (no balancing "
        "at all); its drill takes that master away, the one its clients depend on. Each guide drill starts "
        "from a freshly restarted proxy, so no passive check state (nginx `fail_timeout=30s`, "
        "haproxy's 10 s checks and 60 s slowstart) carries over from the drill before.",
        "",
    ]
    if results.deploy:
        path = charts / "deploy.png"
        deploy_chart(results.deploy, path)
        pngs.append(path)
        base = results.deploy[0].seconds or 1.0
        lines += [
            "## 2. Deploy wall time by node count",
            "",
            "A fresh `kubeha apply` of local-nginx (after an uninstall), 32 nodes at a time; "
            "larger counts use plain lab nodes added for the run. The nodes' rootfs already has "
            "the packages, so this is connect, facts, upload, check, activate and verify. Every "
            "lab node is a container on this machine's 2 cores: each node's own work (systemd "
            "reloading and starting units, `nginx -t`) competes for the same CPU, which real "
            "nodes do not; read the ratio as an upper bound.",
            "",
            f"![deploy]({rel / path.name})",
            "",
        ]
        lines += table(
            ["nodes", "wall time", "ratio to 1 node", "result"],
            [
                [
                    str(r.nodes),
                    f"{r.seconds:.1f} s",
                    f"{r.seconds / base:.2f}",
                    "ok" if r.ok else "FAILED",
                ]
                for r in results.deploy
            ],
        )
        lines += [""]
        largest = results.deploy[-1]
        if largest.phases:
            spent = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in largest.phases)
            lines += [
                f"Where the time went at {largest.nodes} nodes (each phase's mean per node, from "
                f"the run's events): {spent}.",
                "",
            ]
    if results.throughput:
        path = charts / "throughput.png"
        throughput_chart(results.throughput, path)
        pngs.append(path)
        lines += [
            "## 3. Throughput and latency through each proxy",
            "",
            "From a worker node: 4 threads, each on one kept-alive HTTPS connection, asking "
            "/readyz for a fixed time; *direct* spreads the threads over the three masters "
            "itself. The lab's stand-in apiserver (Python) is the limit, so this shows what the "
            "proxy adds, not what a real apiserver can serve.",
            "",
            f"![throughput]({rel / path.name})",
            "",
        ]
        lines += table(
            ["path", "requests/s", "p50", "p99", "errors", "req/s ratio", "p50 ratio", "p99 ratio"],
            [
                [
                    r.path,
                    f"{r.rps:.0f}",
                    f"{r.p50_ms:.1f} ms",
                    f"{r.p99_ms:.1f} ms",
                    str(r.errors),
                    f"{r.rps_ratio:.2f}",
                    f"{r.p50_ratio:.2f}",
                    f"{r.p99_ratio:.2f}",
                ]
                for r in results.throughput
            ],
        )
        lines += [""]
    if results.wizard:
        lines += wizard_lines(results.wizard)
    lines += kept_section(out_md, REAL_CLIENTS)
    lines += kept_section(out_md, REAL_THROUGHPUT)
    lines += kept_section(out_md, IPV6)
    lines += kept_section(out_md, FANOUT)
    lines += kept_section(out_md, MASTERS)
    lines += [
        "## How to run",
        "",
        "```sh",
        ".venv/bin/python -m bench            # the full run: writes docs/BENCHMARKS.md, docs/*.png",
        ".venv/bin/python -m bench --short --out /tmp/bench   # the quick run the tests do",
        "```",
        "",
        "`.venv/bin/python -m bench.real_clients [--strategy S] [--kind K] [--records DIR]` runs "
        "the real-client drill above on its own (root; it turns the lab real and gives the "
        "stand-in back); `.venv/bin/python -m bench.real_throughput [--seconds N]` the "
        "throughput against the real apiservers.",
        "",
        "It takes the lab test lock (/run/kubeha-lab-tests.lock), so it waits for a test session "
        "that holds the lab, and leaves the lab with 3 masters and 2 workers.",
        "",
    ]
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines))
    return pngs
