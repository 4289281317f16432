"""``kubeha verify``: from every node, over SSH, one request through its load balancer to the
apiserver's /readyz — the answer, the latency and the master that answered — plus what the
strategy shows of each node (haproxy-keepalived: which node holds the VIP; ipvs: each node's
IPVS table) and the problems it finds in them.

The lab's stand-in apiserver names itself in an ``X-Lab-Master`` header; a real kube-apiserver
does not name itself, so on real clusters the master column says so instead of guessing.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.probe import (
    UNKNOWN_MASTER,
    ProbeSettings,
    ca_used,
    parse_probe,
    probe_script,
    refusal_message,
)
from wizard.engine.remote import RemoteNode
from wizard.engine.sessions import NodeSessions
from wizard.plan import RenderPlan
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.strategies.base import Strategy
from wizard.strategies.common import ALL_FAILING_FILE
from wizard.strategies.hooks import VerifyExtras
from wizard.terminal import one_line

CURL_CERT_REFUSED = 60  # curl: the peer's certificate failed verification (CA or name)

Opener = Callable[[str], Callable[[], RemoteNode]]


@dataclass(frozen=True)
class NodeCheck:
    """What one node saw through its load balancer."""

    node: str
    url: str
    ok: bool
    status: str  # "200", "HTTP 503", "curl exit 7", "unreachable"
    seconds: float
    master: str = "-"
    detail: str = ""
    holds_vip: bool | None = None  # haproxy-keepalived load-balancer nodes only
    ipvs_table: tuple[str, ...] = ()  # ipvs only
    ca_file: str | None = None  # the CA the answer's certificate was checked against (None: not)
    all_failing: str = ""  # the node's checks say every master fails them (since when)


@dataclass(frozen=True)
class VerifyReport:
    profile: str
    strategy: str
    nodes: tuple[NodeCheck, ...]
    problems: tuple[str, ...] = field(default=())
    ca_file: str | None = None  # None: no CA known, certificates not checked (--insecure)

    @property
    def failed_nodes(self) -> tuple[str, ...]:
        return tuple(n.node for n in self.nodes if not n.ok)

    @property
    def ok(self) -> bool:
        return not self.failed_nodes and not self.problems


def check_node(
    node: RemoteNode,
    name: str,
    url: str,
    timeout: float,
    profile: Profile,
    strategy: Strategy,
    ca_file: str | None = None,
) -> NodeCheck:
    """The probe through the node's load balancer, then what the strategy shows of the node:
    its checks' state (every master failing) and the strategy's own."""
    settings = ProbeSettings.of(profile, ca_file)
    result = node.sh(probe_script(url, timeout, settings), timeout=timeout + 15)
    used, refused = ca_used(result.stdout)
    if refused is not None:
        return NodeCheck(name, url, False, "CA refused", 0.0, "-", refusal_message(name, refused))
    ok, status, seconds, master, detail = parse_probe(
        result.stdout, result.stderr, result.returncode, settings.ok_codes
    )
    if result.returncode == CURL_CERT_REFUSED and used:
        detail = f"certificate refused against {used} (curl 60): {detail}"
    extras = strategy.verify_node(profile, name, node)
    failing = all_failing_state(node) or (
        f"ALL MASTERS FAILING ITS CHECKS: {extras.all_failing}" if extras.all_failing else ""
    )
    if failing:
        detail = f"{detail}; {failing}" if detail else failing
    return NodeCheck(
        name,
        url,
        ok,
        status,
        seconds,
        master,
        detail,
        extras.holds_vip,
        extras.table,
        used,
        failing,
    )


def all_failing_state(node: RemoteNode) -> str:
    """The node's checks' own word when every master fails them (kubeha then cuts and refuses
    nothing: see README "Never every master out"), else ""."""
    result = node.sh(
        f"[ -f {ALL_FAILING_FILE} ] && head -c 300 {ALL_FAILING_FILE} || true", timeout=15
    )
    text = one_line(result.stdout.strip()) if result.ok else ""
    return f"ALL MASTERS FAILING ITS CHECKS: {text}" if text else ""


def run_verify(
    target: Profile | RenderPlan,
    options: ApplyOptions | None = None,
    secrets: Secrets | None = None,
    opener: Opener | None = None,
    timeout: float = 5.0,
    ca_file: str | None = None,
    sessions: NodeSessions | None = None,
) -> VerifyReport:
    """Check every node (in parallel); a node that cannot be reached is a failed row. The CA
    the answers' certificates are checked against: ``ca_file``, else the profile's
    ``[clients] ca_file``, else the one the node has (:mod:`wizard.engine.probe`); none: not
    checked (each row says which). A node whose checks all fail is a problem.

    ``target``: the plan the command built (a profile is validated and rendered here).
    ``sessions``: the command's connections, kept open for what follows (the drill); without
    them, the nodes are opened through ``opener`` (default SSH) and closed before this returns."""
    plan = target if isinstance(target, RenderPlan) else build_plan(target)
    profile = plan.profile
    options = options or ApplyOptions()
    ca_file = ca_file or profile.clients.ca_file
    own = sessions is None
    if sessions is None:
        sessions = (
            NodeSessions(opener)
            if opener is not None
            else NodeSessions.over_ssh(profile, options, secrets or Secrets())
        )
    strategy = registry.get(profile.strategy)
    names = [n.node for n in plan.nodes if not options.only or n.node in options.only]

    def one(name: str) -> NodeCheck:
        url = plan.for_node(name).verify_url
        try:
            node = sessions.node(name)
            return check_node(node, name, url, timeout, profile, strategy, ca_file)
        except Exception as exc:  # unreachable, refused key: a failed row, never a traceback
            return NodeCheck(name, url, False, "unreachable", 0.0, "-", str(exc))

    workers = max(1, min(options.concurrency, len(names) or 1))
    try:
        with concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="kubeha-verify"
        ) as pool:
            checks = list(pool.map(one, names))
    finally:
        if own:
            sessions.close()
    seen = {c.node: VerifyExtras(c.holds_vip, c.ipvs_table) for c in checks}
    problems = strategy.verify_problems(profile, seen)
    blind = [c.node for c in checks if c.all_failing]
    if blind:
        problems.append(
            f"every master fails its checks on {', '.join(blind)}: nothing is cut or refused "
            "there, so a dead master is not seen either (a 401 from every apiserver needs "
            '[health_check] auth = "client-cert" or "alive-on-401": README "Health checks")'
        )
    return VerifyReport(profile.name, profile.strategy, tuple(checks), tuple(problems), ca_file)


def table_rows(report: VerifyReport) -> list[tuple[str, ...]]:
    """Header plus one row per node: node, result, status, latency, master, VIP, detail."""
    vip = any(c.holds_vip is not None for c in report.nodes)
    header = ("node", "result", "status", "latency", "master", *(("VIP",) if vip else ()), "detail")
    rows = [header]
    for c in report.nodes:
        row = [
            c.node,
            "ok" if c.ok else "FAILED",
            c.status,
            f"{c.seconds * 1000:.0f} ms" if c.seconds else "-",
            c.master,
        ]
        if vip:
            row.append("-" if c.holds_vip is None else ("holds" if c.holds_vip else "no"))
        row.append(c.detail)
        rows.append(tuple(row))
    return rows


def format_table(rows: list[tuple[str, ...]]) -> list[str]:
    rows = [tuple(one_line(cell) for cell in row) for row in rows]  # a node's text: one line each
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def report_lines(report: VerifyReport) -> list[str]:
    """The table, each node's balancer table (IPVS), the problems and a one-line verdict."""
    lines = [f"verify {report.profile} ({report.strategy}):", *format_table(table_rows(report))]
    strategy = registry.find(report.strategy)
    title = strategy.table_title if strategy is not None else "table"
    for c in report.nodes:
        if c.ipvs_table:
            lines.append(f"{title} on {c.node}:")
            lines.extend(f"  {one_line(line)}" for line in c.ipvs_table)
    by_ca: dict[str | None, list[str]] = {}
    for c in report.nodes:
        if c.status not in ("unreachable", "CA refused"):
            by_ca.setdefault(c.ca_file, []).append(c.node)
    for ca, names in by_ca.items():
        on = "" if len(by_ca) == 1 else f" on {', '.join(names)}"
        if ca:
            lines.append(
                f"certificates checked against {one_line(ca)} and the name clients dial{on}"
            )
        else:
            lines.append(
                f"certificate not checked{on}: no CA known "
                "(none at /etc/kubernetes/pki/ca.crt nor in the kubeconfigs; give --ca-file)"
            )
    if any(c.master == UNKNOWN_MASTER for c in report.nodes):
        lines.append("master ?: the apiserver answered but does not say which master it is")
    lines.extend(f"problem: {one_line(p)}" for p in report.problems)
    lines.append(one_line(verdict(report)))
    return lines


def verdict(report: VerifyReport) -> str:
    """One line: every node reaches a ready apiserver, or which nodes failed and the problems."""
    if report.ok:
        return f"every node ({len(report.nodes)}) reaches a ready apiserver"
    failed = report.failed_nodes
    what = [f"failed on {', '.join(failed)}"] if failed else []
    return "verify " + "; ".join([*what, *report.problems])
