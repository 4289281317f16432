"""The node agent as a profile choice (``[agent]``: local-nginx and local-haproxy on every node,
haproxy-keepalived on its load-balancer nodes) and the files it puts on each of them: the agent
itself (one zip application, :mod:`wizard.agent_bundle`), its JSON config, a hardened systemd
unit, and for nginx the upstream include the agent rewrites.

The agent's discovery credentials (a ServiceAccount token and the cluster CA) are not here: the
engine makes them through the API when the run starts and adds them to each node's plan
(:data:`TOKEN_PATH`, :data:`CA_PATH`, mode 0600), so a rendered profile never holds a secret.

The pyz's own check on the node is the preflight: a node whose ``python3`` is missing or older
than 3.9 refuses it, named, before any other file of that node is changed (it comes first).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from wizard import agent_bundle
from wizard.field_checks import check_ip, check_port, master_ports
from wizard.netaddr import parse_ip
from wizard.plan import RenderedFile
from wizard.problems import Problem, error, warning
from wizard.profile import Profile
from wizard.strategies.base import Table
from wizard.strategies.fields import described
from wizard.templating import render_template

TABLE = "agent"
UNIT = "kubeha-agent.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
PYZ_PATH = agent_bundle.NODE_PATH
CONFIG_DIR = "/etc/kubeha"
CONFIG_PATH = f"{CONFIG_DIR}/agent.json"
TOKEN_PATH = f"{CONFIG_DIR}/agent-token"
CA_PATH = f"{CONFIG_DIR}/agent-ca.crt"
DEFAULT_PORT = 9446
# Rebalancing's defaults and bounds, the agent's own (wizard.agent.config.Rebalance): two idle
# connections a round (one interval), idle both ways for a second.
REBALANCE_RATIO = 1.25
REBALANCE_RATIO_RANGE = (1.0, 10.0)
REBALANCE_PER_ROUND = 2
REBALANCE_IDLE_S = 1.0
MIN_PYTHON = (3, 9)
# The pyz's check on the node: python3 3.9 or later, else a line saying what the node has.
PYTHON_CHECK = (
    "import sys; v = sys.version_info; "
    f"sys.exit(0 if v >= {MIN_PYTHON!r} else 'kubeha-agent needs python3 "
    f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or later; this node has ' + sys.version.split()[0])"
)
JSON_CHECK = "import json, sys; json.load(open(sys.argv[1]))"


@dataclass(frozen=True)
class AgentTable:
    """The profile's ``[agent]`` table."""

    enabled: bool = described(
        False,
        "Node agent",
        "kubeha-agent beside each node's balancer: /metrics and /healthz, kubeha status",
    )
    discovery: bool = described(
        False,
        "Discovery",
        "follow the cluster's default/kubernetes Endpoints (a read-only token kubeha makes)",
    )
    listen_address: str = described(
        "127.0.0.1", "Metrics address", "where /metrics and /healthz answer on each node"
    )
    listen_port: int = described(DEFAULT_PORT, "Metrics port", "kubeha status reads it")
    rebalance: bool = described(
        False,
        "Rebalance",
        "after a master returns, close a few idle connections on the busiest until the "
        "masters are even again",
    )
    rebalance_ratio: float = described(
        REBALANCE_RATIO,
        "Rebalance ratio",
        "stop once the busiest master has at most this times the least busy's connections",
    )


FORM_ORDER = (
    "enabled",
    "discovery",
    "listen_address",
    "listen_port",
    "rebalance",
    "rebalance_ratio",
)


def agent_of(profile: Profile) -> AgentTable:
    return profile.table(TABLE, AgentTable)


def discovery_on(profile: Profile) -> bool:
    wanted = agent_of(profile)
    return wanted.enabled and wanted.discovery


def check_with_static_pod(wanted: AgentTable, static_pod: bool) -> list[Problem]:
    """The agent changes a balancer kubeha runs as a systemd unit (its reload, its runtime
    socket): not yet one kubelet runs as a static pod."""
    if not (wanted.enabled and static_pod):
        return []
    return [
        error(
            f"{TABLE}.enabled",
            wanted.enabled,
            'the node agent works with balancer.run_as = "systemd" for now: set '
            'agent.enabled = false, or run_as = "systemd"',
        )
    ]


def check_agent(wanted: AgentTable, profile: Profile, proxy_port: int = 0) -> list[Problem]:
    """Each problem names the field, the value and what is expected."""
    problems: list[Problem] = []
    if wanted.discovery and not wanted.enabled:
        problems.append(
            error(
                f"{TABLE}.discovery",
                wanted.discovery,
                "discovery runs in the node agent: set agent.enabled = true, or discovery = false",
            )
        )
    if check_ip(
        problems, f"{TABLE}.listen_address", wanted.listen_address, "the agent's metrics address"
    ):
        ip = parse_ip(wanted.listen_address)
        if ip is not None and not ip.is_loopback and wanted.enabled:
            problems.append(
                warning(
                    f"{TABLE}.listen_address",
                    wanted.listen_address,
                    "the metrics answer anyone who reaches this address; "
                    "loopback (127.0.0.1) keeps them on the node",
                )
            )
    check_port(problems, f"{TABLE}.listen_port", wanted.listen_port)
    if wanted.rebalance and not wanted.enabled:
        problems.append(
            error(
                f"{TABLE}.rebalance",
                wanted.rebalance,
                "rebalancing runs in the node agent: set agent.enabled = true, or rebalance = false",
            )
        )
    low, high = REBALANCE_RATIO_RANGE
    ratio = wanted.rebalance_ratio
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not low <= ratio <= high:
        problems.append(
            error(
                f"{TABLE}.rebalance_ratio",
                ratio,
                f"a number from {low:g} to {high:g} (the busiest master's connections over the "
                f"least busy's), e.g. {REBALANCE_RATIO}",
            )
        )
    taken = master_ports(profile) | ({proxy_port} if proxy_port else set())
    if wanted.listen_port in taken:
        problems.append(
            error(
                f"{TABLE}.listen_port",
                wanted.listen_port,
                f"the apiservers or the proxy bind it; expected another port, e.g. {DEFAULT_PORT}",
            )
        )
    return problems


@functools.cache
def _bundle() -> bytes:
    return agent_bundle.bundle()


@dataclass(frozen=True)
class Hands:
    """How the agent changes this strategy's balancer: ``balancer`` ("haproxy", "nginx") and
    its table in agent.json; ``writes``: folders the agent writes (the nginx include's)."""

    balancer: str
    settings: dict[str, str]
    writes: tuple[str, ...] = ()
    balancer_unit: str = ""


def config_text(
    profile: Profile, hands: Hands, api_host: str, api_port: int, *, discovery: bool
) -> str:
    """The node's agent.json (the agent reads it strictly: wizard.agent.config)."""
    wanted = agent_of(profile)
    hc = profile.health_check
    check: dict[str, Any] = {"path": hc.path, "timeout_s": hc.timeout, "auth": hc.auth}
    if hc.auth == "client-cert":
        check["client_cert"] = hc.client_cert
        check["client_key"] = hc.client_key
    data: dict[str, Any] = {
        "seed": [{"address": m.address, "port": m.apiserver_port} for m in profile.masters],
        "check": check,
        "interval_s": hc.interval,
        "balancer": hands.balancer,
        hands.balancer: hands.settings,
        "listen": {"address": wanted.listen_address, "port": wanted.listen_port},
        "discovery": (
            {"host": api_host, "port": api_port, "ca_file": CA_PATH, "token_file": TOKEN_PATH}
            if discovery
            else None
        ),
        "rebalance": (
            {
                "ratio": float(wanted.rebalance_ratio),
                "per_round": REBALANCE_PER_ROUND,
                "idle_s": REBALANCE_IDLE_S,
                "process": hands.balancer,
                "unit": hands.balancer_unit,
            }
            if wanted.rebalance
            else None
        ),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def agent_files(
    profile: Profile, hands: Hands, api_host: str, api_port: int
) -> tuple[RenderedFile, ...]:
    """The pyz (first: its check is the node's python preflight), agent.json and the unit;
    none when the agent is off."""
    wanted = agent_of(profile)
    if not wanted.enabled:
        return ()
    discovery = wanted.discovery
    unit = render_template(
        "common/kubeha-agent.service.j2",
        profile=profile,
        pyz=PYZ_PATH,
        config=CONFIG_PATH,
        writes=hands.writes,
        balancer_unit=hands.balancer_unit,
    )
    return (
        RenderedFile(
            PYZ_PATH,
            f"kubeha-agent zip application ({len(_bundle())} bytes)",
            "wizard/agent_bundle.py",
            data=_bundle(),
            check=("python3", "-c", PYTHON_CHECK, "{file}"),
            service=UNIT,
            restart=True,
        ),
        RenderedFile(
            CONFIG_PATH,
            config_text(profile, hands, api_host, api_port, discovery=discovery),
            "wizard/strategies/node_agent.py",
            mode=0o600,
            check=("python3", "-c", JSON_CHECK, "{file}"),
            service=UNIT,
            restart=True,
        ),
        RenderedFile(
            UNIT_PATH,
            unit,
            "common/kubeha-agent.service.j2",
            service=UNIT,
            restart=True,
        ),
    )


def services(profile: Profile) -> tuple[str, ...]:
    return (UNIT,) if agent_of(profile).enabled else ()


def node_paths(profile: Profile) -> tuple[str, ...]:
    """Every path the agent may have on a node (the validator's list of kubeha's files)."""
    return (PYZ_PATH, CONFIG_PATH, TOKEN_PATH, CA_PATH, UNIT_PATH)


def secret_file(path: str, data: bytes) -> RenderedFile:
    """The token or CA the engine adds for discovery: root only, never shown (a dry run and a
    diff name it redacted)."""
    return RenderedFile(
        path,
        f"{path} (redacted)",
        "the agent's ServiceAccount token",
        mode=0o600,
        data=data,
        service=UNIT,
        restart=True,
        secret=True,
    )


def _check_table(wanted: AgentTable, profile: Profile) -> list[Problem]:
    return check_agent(wanted, profile)


# The table as the strategies declare it (one table, the same in each).
AGENT_TABLE: Table[AgentTable] = Table(TABLE, AgentTable, "Node agent", FORM_ORDER, _check_table)


# --- discovery's credentials: the objects the engine makes through the API -----------------

ACCESS_NAME = "kubeha-agent"
ACCESS_NAMESPACE = "kube-system"  # the ServiceAccount and its token Secret
TOKEN_SECRET = "kubeha-agent-token"
MANAGED = {"app.kubernetes.io/managed-by": "kubeha", "app.kubernetes.io/name": "kubeha-agent"}


def access_objects() -> list[dict[str, Any]]:
    """What discovery needs and nothing more: a ServiceAccount; a Role in ``default`` that may
    get, list and watch the Endpoints named ``kubernetes`` only (the agent's list is a get of
    that object, its watch carries ``fieldSelector=metadata.name=kubernetes``, which RBAC reads
    as that name); its RoleBinding; and a ``kubernetes.io/service-account-token`` Secret, the
    long-lived token of Kubernetes 1.20 (kubectl has no ``create token`` there), filled by the
    controller-manager's token controller. In the order they are created."""

    def meta(namespace: str, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(MANAGED), **extra}

    account = {"kind": "ServiceAccount", "name": ACCESS_NAME, "namespace": ACCESS_NAMESPACE}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(ACCESS_NAMESPACE, ACCESS_NAME),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("default", ACCESS_NAME),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints"],
                    "resourceNames": ["kubernetes"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("default", ACCESS_NAME),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": ACCESS_NAME,
            },
            "subjects": [account],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": meta(
                ACCESS_NAMESPACE,
                TOKEN_SECRET,
                annotations={"kubernetes.io/service-account.name": ACCESS_NAME},
            ),
        },
    ]
