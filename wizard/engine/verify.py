"""``kubeha verify``: from every node, over SSH, one request through its load balancer to the
apiserver's /readyz — the answer, the latency and the master that answered — plus what the
strategy shows of each node (haproxy-keepalived: which node holds the VIP; ipvs: each node's
IPVS table) and the problems it finds in them.

The lab's stand-in apiserver names itself in an ``X-Lab-Master`` header; a real kube-apiserver
does not name itself, so on real clusters the master column says so instead of guessing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine.connector import SshConnector
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.remote import RemoteNode, q
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.strategies.base import Strategy
from wizard.strategies.hooks import VerifyExtras
from wizard.terminal import one_line

MASTER_HEADER = "x-lab-master"
CURL_CERT_REFUSED = 60  # curl: the peer's certificate failed verification (CA or name)
UNKNOWN_MASTER = "?"  # a real apiserver does not say which master it is

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


def probe_script(url: str, timeout: float, ca_file: str | None = None) -> str:
    """One curl through the load balancer: headers to stdout, then ``RESULT code seconds``.
    With ``ca_file`` the answer's certificate must be issued by that CA and name the URL's
    host, as every client checks it; without one, ``--insecure`` (the table says so)."""
    tls = f"--cacert {q(ca_file)}" if ca_file else "--insecure"
    return (
        f"curl --silent --show-error {tls} --dump-header - --output /dev/null "
        f"--max-time {timeout:g} --write-out 'RESULT %{{http_code}} %{{time_total}}\\n' {q(url)}"
    )


def parse_probe(stdout: str, stderr: str, returncode: int) -> tuple[bool, str, float, str, str]:
    """(ok, status, seconds, master, detail) from :func:`probe_script`'s output."""
    code, seconds, master = "000", 0.0, UNKNOWN_MASTER
    for raw in stdout.splitlines():
        line = raw.strip()
        if line.lower().startswith(MASTER_HEADER + ":"):
            master = line.split(":", 1)[1].strip() or UNKNOWN_MASTER
        elif line.startswith("RESULT "):
            parts = line.split()
            if len(parts) >= 3:
                code = parts[1]
                with contextlib.suppress(ValueError):
                    seconds = float(parts[2])
    ok = returncode == 0 and code == "200"
    if code == "000":
        status = f"curl exit {returncode}"
        master = "-"
    else:
        status = code if code == "200" else f"HTTP {code}"
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return ok, status, seconds, master, detail


def check_node(
    node: RemoteNode,
    name: str,
    url: str,
    timeout: float,
    profile: Profile,
    strategy: Strategy,
    ca_file: str | None = None,
) -> NodeCheck:
    """The probe through the node's load balancer, then what the strategy shows of the node."""
    result = node.sh(probe_script(url, timeout, ca_file), timeout=timeout + 15)
    ok, status, seconds, master, detail = parse_probe(
        result.stdout, result.stderr, result.returncode
    )
    if result.returncode == CURL_CERT_REFUSED and ca_file:
        detail = f"certificate refused against {ca_file} (curl 60): {detail}"
    extras = strategy.verify_node(profile, name, node)
    return NodeCheck(
        name, url, ok, status, seconds, master, detail, extras.holds_vip, extras.table, ca_file
    )


def run_verify(
    profile: Profile,
    options: ApplyOptions | None = None,
    secrets: Secrets | None = None,
    opener: Opener | None = None,
    timeout: float = 5.0,
    ca_file: str | None = None,
) -> VerifyReport:
    """Check every node (in parallel); a node that cannot be reached is a failed row. The CA
    the answers' certificates are checked against: ``ca_file``, else the profile's
    ``[clients] ca_file``; neither: not checked."""
    options = options or ApplyOptions()
    ca_file = ca_file or profile.clients.ca_file
    plan = build_plan(profile)
    ssh = SshConnector(profile, options, secrets or Secrets()) if opener is None else None
    open_for = opener or ssh
    assert open_for is not None
    strategy = registry.get(profile.strategy)
    names = [n.node for n in plan.nodes if not options.only or n.node in options.only]

    def one(name: str) -> NodeCheck:
        url = plan.for_node(name).verify_url
        node = None
        try:
            node = open_for(name)()
            return check_node(node, name, url, timeout, profile, strategy, ca_file)
        except Exception as exc:  # unreachable, refused key: a failed row, never a traceback
            return NodeCheck(name, url, False, "unreachable", 0.0, "-", str(exc))
        finally:
            if node is not None:
                with contextlib.suppress(Exception):
                    node.transport.close()

    workers = max(1, min(options.concurrency, len(names) or 1))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="kubeha-verify") as pool:
        checks = list(pool.map(one, names))
    if ssh is not None:
        ssh.close()
    seen = {c.node: VerifyExtras(c.holds_vip, c.ipvs_table) for c in checks}
    problems = strategy.verify_problems(profile, seen)
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
    if report.ca_file:
        lines.append(f"certificates checked against {report.ca_file} and the name clients dial")
    else:
        lines.append("certificate not checked: no CA known (give --ca-file or [clients] ca_file)")
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
