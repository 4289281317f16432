"""What a node's agent tells the operator: Prometheus text exposition (format 0.0.4).

Per master (label ``master="ADDRESS:PORT"``): whether it passes its check, the balancer's open
connections to it, connects and failed checks since the agent started, the last check's
latency, its state in the list. Per node: the balancer up, the list's generation, where the list
came from, the cluster's Endpoints read and failed (with discovery) and when last read.
``kubeha status`` reads the same text from every node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wizard.agent.roster import Member, Roster, Source, State


@dataclass
class MasterFigures:
    """What the agent counted for one master."""

    up: bool = False
    connections: int = 0
    connects_total: int = 0
    failures_total: int = 0
    check_seconds: float = 0.0
    changed_at: float = 0.0  # wall clock (s) of the last change of `up`: the last failover
    checked: bool = False  # the first check sets `up` without counting as a change


@dataclass
class NodeFigures:
    """Everything one scrape shows."""

    roster: Roster
    balancer_up: bool = False
    masters: dict[Member, MasterFigures] = field(default_factory=dict)
    rebalance_closed_total: int = 0
    # The cluster's Endpoints (with discovery): lists and watch events read, reads that failed,
    # and when the last one was read (wall clock; 0: never). The list's source stays "seed"
    # while the Endpoints name the seed's masters, so these say whether discovery works.
    discovery_reads_total: int = 0
    discovery_failures_total: int = 0
    discovery_read_at: float = 0.0

    def discovery_read(self, ok: bool, now: float) -> None:
        """One read of the Endpoints, ``ok`` or failed."""
        if ok:
            self.discovery_reads_total += 1
            self.discovery_read_at = now
        else:
            self.discovery_failures_total += 1

    def figures(self, member: Member) -> MasterFigures:
        return self.masters.setdefault(member, MasterFigures())


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


FAMILIES = (
    ("kubeha_master_up", "gauge", "1 if the master passes this node's check"),
    ("kubeha_master_connections", "gauge", "the balancer's open connections to the master"),
    ("kubeha_master_connects_total", "counter", "connections the balancer opened to it"),
    ("kubeha_master_check_failures_total", "counter", "checks of the master that failed"),
    ("kubeha_master_check_seconds", "gauge", "how long the last check took"),
    ("kubeha_master_draining", "gauge", "1 if the list drains the master (no new connection)"),
    ("kubeha_master_listed", "gauge", "1 if the master is in the list; 0 once it left it"),
    ("kubeha_master_changed_timestamp_seconds", "gauge", "when its check result last changed"),
)


def render(node: NodeFigures) -> str:
    """The scrape's text: one family per metric, masters in the list's order, then the ones
    the agent still counts but the list no longer has."""
    listed = [m for m, _ in node.roster.members]
    members = listed + sorted(set(node.masters) - set(listed))
    states = dict(node.roster.members)
    lines: list[str] = []
    for name, kind, helptext in FAMILIES:
        lines += [f"# HELP {name} {helptext}", f"# TYPE {name} {kind}"]
        for member in members:
            figures = node.masters.get(member, MasterFigures())
            value = {
                "kubeha_master_up": int(figures.up),
                "kubeha_master_connections": figures.connections,
                "kubeha_master_connects_total": figures.connects_total,
                "kubeha_master_check_failures_total": figures.failures_total,
                "kubeha_master_check_seconds": figures.check_seconds,
                "kubeha_master_draining": int(states.get(member) is State.DRAINING),
                "kubeha_master_listed": int(member in states),
                "kubeha_master_changed_timestamp_seconds": figures.changed_at,
            }[name]
            lines.append(f'{name}{{master="{_label(str(member))}"}} {_number(value)}')
    lines += [
        "# HELP kubeha_balancer_up 1 if the node's balancer answers",
        "# TYPE kubeha_balancer_up gauge",
        f"kubeha_balancer_up {int(node.balancer_up)}",
        "# HELP kubeha_list_generation the generation of the list of masters",
        "# TYPE kubeha_list_generation gauge",
        f"kubeha_list_generation {node.roster.generation}",
        "# HELP kubeha_rebalance_closed_total idle connections closed to spread the load back",
        "# TYPE kubeha_rebalance_closed_total counter",
        f"kubeha_rebalance_closed_total {node.rebalance_closed_total}",
        "# HELP kubeha_discovery_reads_total the cluster's Endpoints read (lists, watch events)",
        "# TYPE kubeha_discovery_reads_total counter",
        f"kubeha_discovery_reads_total {node.discovery_reads_total}",
        "# HELP kubeha_discovery_failures_total reads of the Endpoints that failed (list kept)",
        "# TYPE kubeha_discovery_failures_total counter",
        f"kubeha_discovery_failures_total {node.discovery_failures_total}",
        "# HELP kubeha_discovery_read_timestamp_seconds when the Endpoints were last read (0: never)",
        "# TYPE kubeha_discovery_read_timestamp_seconds gauge",
        f"kubeha_discovery_read_timestamp_seconds {_number(node.discovery_read_at)}",
        "# HELP kubeha_discovery_source where the list came from last",
        "# TYPE kubeha_discovery_source gauge",
        *(
            f'kubeha_discovery_source{{source="{s.value}"}} {int(node.roster.source is s)}'
            for s in Source
        ),
    ]
    return "\n".join(lines) + "\n"


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse(text: str) -> dict[str, dict[str, float]]:
    """A scrape read back: metric name -> label text (``master="..."`` or ``""``) -> value.
    For ``kubeha status`` and the tests; a line it cannot read is skipped."""
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        try:
            found.setdefault(name, {})[labels or ""] = float(value)
        except ValueError:
            continue
    return found
