"""The agent's settings: one JSON file kubeha renders per node (``/etc/kubeha/agent.json``),
read strictly: a value that is missing, of the wrong type or out of range is a
:class:`ConfigError` naming the field, the value and what is expected, and the agent does not
start (systemd says so; the balancer runs on with the list it has)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wizard.agent.check import AUTHS, CheckSpec
from wizard.agent.roster import Member

BALANCERS = ("haproxy", "nginx", "none")


class ConfigError(ValueError):
    """A setting the agent cannot run with."""


@dataclass(frozen=True)
class Discovery:
    """Where the agent asks the API: through the node's own balancer, as kubelet does."""

    host: str
    port: int
    ca_file: str
    token_file: str


@dataclass(frozen=True)
class Rebalance:
    """Spreading connections back after a return (wizard.agent.rebalance)."""

    per_round: int = 2
    idle_ms: int = 1000
    ratio: float = 1.25
    process: str = ""  # the balancer's program name in ss (haproxy, nginx); "": any
    # The balancer's systemd unit: its sockets carry the unit's cgroup (ss -e), which the agent
    # reads without seeing the balancer's processes ("": by program name or owner only).
    unit: str = ""


@dataclass(frozen=True)
class AgentConfig:
    seed: tuple[Member, ...]
    check: CheckSpec
    interval_s: float
    balancer: str  # "haproxy", or "none": observe and report only
    admin_socket: str
    backend: str
    server_params: str
    backup_params: str
    listen_address: str
    listen_port: int
    discovery: Discovery | None
    add_after_s: float = 1.0
    remove_after_s: float = 10.0
    rebalance: Rebalance | None = None
    nginx_upstream_file: str = ""
    nginx_config: str = ""
    nginx_binary: str = "/usr/sbin/nginx"
    nginx_params: str = ""


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    name = f"{where}{key}"
    if key not in data:
        raise ConfigError(f"{name}: missing: expected a {_kind_name(kind)}")
    value = data[key]
    if not isinstance(value, kind) or (
        isinstance(value, bool) and kind in (int, float, (int, float))
    ):
        raise ConfigError(f"{name}: {value!r}: expected a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {
            "str": "string",
            "int": "integer",
            "float": "number",
            "dict": "table",
            "list": "list",
            "bool": "boolean",
        }[k.__name__]
        for k in kinds
    )


def _port(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise ConfigError(f"{name}: {value!r}: expected a TCP port, 1-65535")
    return value


def _seconds(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name}: {value!r}: expected seconds, {low} to {high}")
    return float(value)


def parse_config(text: str) -> AgentConfig:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"agent.json: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"agent.json: {type(data).__name__}: expected a JSON object")
    seed_list = _get(data, "seed", list)
    if not seed_list:
        raise ConfigError("seed: []: expected at least one master")
    seed = []
    for i, item in enumerate(seed_list):
        if not isinstance(item, dict):
            raise ConfigError(f"seed[{i}]: {item!r}: expected {{address, port}}")
        seed.append(
            Member(
                _get(item, "address", str, f"seed[{i}]."),
                _port(item.get("port"), f"seed[{i}].port"),
            )
        )
    check = _get(data, "check", dict)
    auth = _get(check, "auth", str, "check.")
    if auth not in AUTHS:
        raise ConfigError(f"check.auth: {auth!r}: expected one of {', '.join(AUTHS)}")
    spec = CheckSpec(
        path=_get(check, "path", str, "check."),
        timeout_s=_seconds(check.get("timeout_s"), "check.timeout_s", 0.05, 60),
        auth=auth,
        client_cert=str(check.get("client_cert", "")),
        client_key=str(check.get("client_key", "")),
    )
    balancer = _get(data, "balancer", str)
    if balancer not in BALANCERS:
        raise ConfigError(f"balancer: {balancer!r}: expected one of {', '.join(BALANCERS)}")
    listen = _get(data, "listen", dict)
    found = data.get("discovery")
    discovery = None
    if found is not None:
        if not isinstance(found, dict):
            raise ConfigError(f"discovery: {found!r}: expected a table or null")
        discovery = Discovery(
            _get(found, "host", str, "discovery."),
            _port(found.get("port"), "discovery.port"),
            _get(found, "ca_file", str, "discovery."),
            _get(found, "token_file", str, "discovery."),
        )
    rebalance = None
    wanted = data.get("rebalance")
    if wanted is not None:
        if not isinstance(wanted, dict):
            raise ConfigError(f"rebalance: {wanted!r}: expected a table or null")
        per_round = wanted.get("per_round", 2)
        if (
            isinstance(per_round, bool)
            or not isinstance(per_round, int)
            or not 0 < per_round <= 100
        ):
            raise ConfigError(f"rebalance.per_round: {per_round!r}: expected 1 to 100")
        ratio = wanted.get("ratio", 1.25)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 <= ratio <= 10:
            raise ConfigError(f"rebalance.ratio: {ratio!r}: expected a number, 1 to 10")
        rebalance = Rebalance(
            per_round,
            int(_seconds(wanted.get("idle_s", 1.0), "rebalance.idle_s", 0.1, 600) * 1000),
            float(ratio),
            str(wanted.get("process", "")),
            str(wanted.get("unit", "")),
        )
    nginx = data.get("nginx") or {}
    if balancer == "nginx":
        if not isinstance(data.get("nginx"), dict):
            raise ConfigError("nginx: missing: expected the upstream file and config of nginx")
        for key in ("upstream_file", "config", "binary", "params"):
            _get(nginx, key, str, "nginx.")
    haproxy = data.get("haproxy") or {}
    if balancer == "haproxy" and not isinstance(data.get("haproxy"), dict):
        raise ConfigError("haproxy: missing: expected the admin socket and backend of haproxy")
    return AgentConfig(
        seed=tuple(seed),
        check=spec,
        interval_s=_seconds(data.get("interval_s", 1.0), "interval_s", 0.1, 60),
        balancer=balancer,
        admin_socket=str(haproxy.get("admin_socket", "")),
        backend=str(haproxy.get("backend", "kube-apiserver")),
        server_params=str(haproxy.get("server_params", "")),
        backup_params=str(haproxy.get("backup_params", "backup")),
        listen_address=_get(listen, "address", str, "listen."),
        listen_port=_port(listen.get("port"), "listen.port"),
        discovery=discovery,
        add_after_s=_seconds(data.get("add_after_s", 1.0), "add_after_s", 0, 600),
        remove_after_s=_seconds(data.get("remove_after_s", 10.0), "remove_after_s", 0, 3600),
        rebalance=rebalance,
        nginx_upstream_file=str(nginx.get("upstream_file", "")),
        nginx_config=str(nginx.get("config", "")),
        nginx_binary=str(nginx.get("binary", "/usr/sbin/nginx")),
        nginx_params=str(nginx.get("params", "")),
    )
