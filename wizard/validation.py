r"""``validate(profile)``: every problem at once, each naming the field, the value and what is
expected.

Every string that reaches a generated file is held to its own character set here, so a newline,
quote, brace, semicolon or space can never break or inject a line into nginx, haproxy,
keepalived, systemd or shell files. The renderer refuses control characters again as a second net.
Patterns are matched whole (``re.fullmatch``, ``\A...\Z``): ``$`` would let a final newline
through.

Addresses that can never be a node or a virtual IP (unspecified, broadcast, multicast, loopback
where the strategy cannot use it) are refused; the counts of masters and nodes are capped
(``MAX_MASTERS``, ``MAX_NODES``), and every check is linear in the number of nodes.
"""

from __future__ import annotations

import re
from typing import Any

from wizard import backups, kubeadm_api
from wizard.field_checks import (
    ABS_PATH_RE,
    check_address,
    check_host_ip,
    check_lower_case,
    check_port,
    local_file,
    node_groups,
    normal_folder,
)
from wizard.netaddr import is_address, never_a_host, parse_ip
from wizard.problems import Problem, error, warning
from wizard.profile import (
    CHECK_AUTHS,
    MAX_MASTERS,
    MAX_NODES,
    SCHEMA_VERSION,
    Master,
    Profile,
)
from wizard.strategies import registry
from wizard.strategies.base import Strategy

NODE_NAME_RE = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
PROFILE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
HTTP_PATH_RE = re.compile(r"\A/[A-Za-z0-9/_.~-]{0,200}\Z")
USER_RE = re.compile(r"\A[a-z_][a-z0-9_.-]{0,31}\Z")
BASTION_RE = re.compile(
    r"\A(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?(?P<host>[^@:\[\]]+|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)


def _check_nodes(profile: Profile, problems: list[Problem]) -> None:
    total = len(profile.masters) + len(profile.workers) + len(profile.lb_nodes)
    if not profile.masters:
        problems.append(error("masters", [], "expected at least one master"))
    elif len(profile.masters) > MAX_MASTERS:
        problems.append(
            error(
                "masters",
                len(profile.masters),
                f"expected at most {MAX_MASTERS} masters (every node's proxy lists every "
                "master); 3 or 5 is usual",
            )
        )
    elif len(profile.masters) == 1:
        problems.append(
            warning("masters", 1, "one master is not highly available; use 3 or 5 masters")
        )
    elif len(profile.masters) % 2 == 0:
        problems.append(
            warning(
                "masters",
                len(profile.masters),
                "an even number of masters tolerates no more failures than one fewer; use an odd number",
            )
        )
    if total > MAX_NODES:
        biggest = max(("workers", "lb_nodes"), key=lambda group: len(getattr(profile, group)))
        problems.append(
            error(
                biggest,
                total,
                f"expected at most {MAX_NODES} nodes in all (masters, workers and lb_nodes)",
            )
        )
    loopback_strategies = registry.offering("loopback_single_node")
    loopback_ok = profile.strategy in loopback_strategies and total == 1
    loopback_why = f"(loopback only for a one-node {' or '.join(loopback_strategies)})"
    seen_names: dict[str, str] = {}
    seen_addresses: dict[str, str] = {}
    seen_ssh: dict[tuple[str, int], str] = {}
    for group, index, node in node_groups(profile):
        where = f"{group}[{index}]"
        if not NODE_NAME_RE.fullmatch(node.name):
            problems.append(
                error(
                    f"{where}.name",
                    node.name,
                    "expected a lower-case DNS label: a-z, 0-9 and '-', at most 63 characters",
                )
            )
        elif node.name in seen_names:
            problems.append(
                error(
                    f"{where}.name",
                    node.name,
                    f"duplicate: already used by {seen_names[node.name]}",
                )
            )
        else:
            seen_names[node.name] = where
        check_address(problems, f"{where}.address", node.address)
        ip = parse_ip(node.address)
        if ip is not None:
            check_host_ip(problems, f"{where}.address", node.address, ip, loopback_ok, loopback_why)
        key = ip.compressed if ip is not None else node.address.lower()
        if key in seen_addresses:
            problems.append(
                error(
                    f"{where}.address",
                    node.address,
                    f"duplicate: already used by {seen_addresses[key]}",
                )
            )
        else:
            seen_addresses[key] = where
        if isinstance(node, Master):
            check_port(problems, f"{where}.apiserver_port", node.apiserver_port)
            check_lower_case(problems, f"{where}.address", node.address)  # a certSAN
        ssh = node.ssh
        if ssh.host is not None:
            check_address(problems, f"{where}.ssh.host", ssh.host)
            ssh_ip = parse_ip(ssh.host)
            kind = never_a_host(ssh_ip) if ssh_ip is not None else None
            if kind is not None:
                problems.append(
                    error(
                        f"{where}.ssh.host",
                        ssh.host,
                        f"is {kind}: expected the address SSH reaches the node on",
                    )
                )
        if ssh.port is not None:
            check_port(problems, f"{where}.ssh.port", ssh.port)
        if ssh.user is not None and not USER_RE.fullmatch(ssh.user):
            problems.append(error(f"{where}.ssh.user", ssh.user, "expected a Unix user name"))
        if ssh.host is not None:
            endpoint = (ssh.host, ssh.port or profile.ssh.port or 22)
            if endpoint in seen_ssh:
                problems.append(
                    error(
                        f"{where}.ssh",
                        f"{endpoint[0]}:{endpoint[1]}",
                        f"duplicate SSH endpoint: already used by {seen_ssh[endpoint]}",
                    )
                )
            else:
                seen_ssh[endpoint] = where


def _check_health(profile: Profile, problems: list[Problem]) -> None:
    hc = profile.health_check
    if not HTTP_PATH_RE.fullmatch(hc.path):
        problems.append(
            error(
                "health_check.path",
                hc.path,
                "expected a URL path such as /readyz: '/', letters, digits, '_', '.', '-', '~'",
            )
        )
    if not 0.1 <= hc.interval <= 3600:
        problems.append(error("health_check.interval", hc.interval, "expected 0.1 to 3600 seconds"))
    if not 0.1 <= hc.timeout <= 3600:
        problems.append(error("health_check.timeout", hc.timeout, "expected 0.1 to 3600 seconds"))
    elif hc.timeout > hc.interval:
        problems.append(
            warning(
                "health_check.timeout",
                hc.timeout,
                f"a timeout longer than the interval ({hc.interval}s) lets checks overlap",
            )
        )
    for name in ("fall", "rise"):
        value = getattr(hc, name)
        if not 1 <= value <= 100:
            problems.append(error(f"health_check.{name}", value, "expected 1 to 100 checks"))
    if hc.auth not in CHECK_AUTHS:
        problems.append(
            error("health_check.auth", hc.auth, f"expected one of {', '.join(CHECK_AUTHS)}")
        )
        return
    for name in ("client_cert", "client_key"):
        value = getattr(hc, name)
        if (value or name == "client_cert") and (
            not ABS_PATH_RE.fullmatch(value) or ".." in value.split("/")
        ):
            problems.append(
                error(f"health_check.{name}", value, "expected an absolute path on the nodes")
            )
    if (
        hc.auth == "client-cert"
        and hc.client_key
        and hc.client_key != hc.client_cert + ".key"
        and profile.strategy in ("local-haproxy", "haproxy-keepalived")
    ):
        problems.append(
            error(
                "health_check.client_key",
                hc.client_key,
                "haproxy reads the key from the certificate's own file or from "
                f"{hc.client_cert}.key: leave client_key empty or name that file",
            )
        )


def _check_ssh(profile: Profile, problems: list[Problem]) -> None:
    ssh = profile.ssh
    if ssh.user is not None and not USER_RE.fullmatch(ssh.user):
        problems.append(
            error("ssh.user", ssh.user, "expected a Unix user name such as root or ops")
        )
    if ssh.port is not None:
        check_port(problems, "ssh.port", ssh.port)
    if ssh.key_file is not None:
        local_file(problems, "ssh.key_file", ssh.key_file)
    if ssh.known_hosts is not None:
        local_file(problems, "ssh.known_hosts", ssh.known_hosts)
    if ssh.bastion is not None:
        match = BASTION_RE.fullmatch(ssh.bastion)
        host = match.group("host").strip("[]") if match else ""
        port = int(match.group("port")) if match and match.group("port") else 22
        if not match or not is_address(host) or not 1 <= port <= 65535:
            problems.append(
                error(
                    "ssh.bastion",
                    ssh.bastion,
                    "expected [user@]host[:port], e.g. ops@bastion.example:22",
                )
            )


# systemd's unit names (unit_name_is_valid): at most 255 characters, the type after the last
# '.', before it letters, digits, ':', '-', '_', '.', '\\' and '@' (the first '@' ends the template
# name, which is not empty). A leading '-' is valid (the root mount is ``-.mount``): kubeha
# passes every unit after ``--`` (``RemoteNode.systemctl``).
UNIT_NAME_MAX = 255
UNIT_PREFIX_RE = re.compile(r"\A[A-Za-z0-9:_.\\@-]+\Z")
SERVICE = ".service"
POD_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")  # a container name (DNS label)
MAX_CLIENT_KUBECONFIGS = 32


KUBECONFIG_EXAMPLE = "/etc/kubernetes/kubelet.conf"
# kubeha's own folders on a node: its state, lock, journal and manifest, its scripts and config.
KUBEHA_FOLDERS = ("/var/lib/kubeha", "/run/kubeha", "/etc/kubeha", "/usr/local/lib/kubeha")


def _owned_files(profile: Profile) -> dict[str, list[str]]:
    """Every file a strategy writes on the nodes for ``profile`` -> the strategies that do."""
    owned: dict[str, list[str]] = {}
    for strategy in registry.strategies():
        for path in strategy.node_files(profile):
            owned.setdefault(normal_folder(path), []).append(strategy.key)
    return owned


def _kubeconfig_path_problem(path: str, owned: dict[str, list[str]]) -> str:
    """Why ``path`` cannot be a kubeconfig kubeha repoints ("" when it can): kubeha replaces
    that file and keeps its backups beside it, so it must be one file of the operator's."""
    expected = f"expected an absolute file path on the nodes such as {KUBECONFIG_EXAMPLE}"
    if not path.startswith("/"):
        return f"is a relative path: {expected}"
    if not ABS_PATH_RE.fullmatch(path) or ".." in path.split("/"):
        return f"{expected} ('/', letters, digits, '_', '.', '+', '-'; no '..')"
    normal = normal_folder(path)
    if normal == "/":
        return f"is the root folder '/': {expected}"
    if path.endswith("/") or path.rsplit("/", 1)[-1] == ".":
        return f"ends in '/', as a folder does: {expected}"
    suffix = next((s for s in backups.SUFFIXES if normal.endswith(s)), None)
    if suffix is not None:
        return (
            f"is a backup kubeha keeps beside a file it replaced ({suffix}): expected the "
            f"kubeconfig itself, e.g. {normal.removesuffix(suffix)}"
        )
    if normal in owned:
        return (
            f"is a file kubeha writes itself (strategy {' and '.join(owned[normal])}): {expected}"
        )
    folder = next((f for f in KUBEHA_FOLDERS if normal.startswith(f + "/")), None)
    if folder is not None:
        return f"is inside {folder}, kubeha's own folder on the nodes: {expected}"
    return ""


def _service_problem(unit: str) -> str:
    """Why ``unit`` is not the name of a systemd service kubeha can restart ("" when it is)."""
    expected = (
        'expected a systemd service such as kubelet.service, or "" for none: letters, digits, '
        "':', '_', '.', '-', '\\', '@' (before an instance name), ending in .service, at most "
        f"{UNIT_NAME_MAX} characters"
    )
    name, dot, kind = unit.rpartition(".")
    if len(unit) > UNIT_NAME_MAX or not dot or "." + kind != SERVICE or not name:
        return expected
    if not UNIT_PREFIX_RE.fullmatch(name):
        return expected
    template, at, instance = name.partition("@")
    if at and not template:
        return "a unit name cannot start with '@': " + expected
    if at and not instance:
        return (
            f"{unit} is a template, which systemd cannot restart: expected an instance of it "
            f"such as {template}@name{SERVICE}, or another service"
        )
    return ""


def _check_clients(profile: Profile, problems: list[Problem]) -> None:
    clients = profile.clients
    if clients.kubeconfigs and not clients.repoint:
        problems.append(
            warning(
                "clients.kubeconfigs",
                len(clients.kubeconfigs),
                "listed but not used: expected clients.repoint = true to repoint them",
            )
        )
    if len(clients.kubeconfigs) > MAX_CLIENT_KUBECONFIGS:
        problems.append(
            error(
                "clients.kubeconfigs",
                len(clients.kubeconfigs),
                f"expected at most {MAX_CLIENT_KUBECONFIGS} kubeconfigs",
            )
        )
    seen: dict[str, str] = {}
    owned = _owned_files(profile) if clients.kubeconfigs else {}
    for index, item in enumerate(clients.kubeconfigs):
        where = f"clients.kubeconfigs[{index}]"
        why = _kubeconfig_path_problem(item.path, owned)
        if why:
            problems.append(error(f"{where}.path", item.path, why))
        else:
            key = normal_folder(item.path)
            if key in seen:
                problems.append(
                    error(f"{where}.path", item.path, f"duplicate: already listed as {seen[key]}")
                )
            seen.setdefault(key, where)
        if item.pod and not POD_RE.fullmatch(item.pod):
            problems.append(
                error(
                    f"{where}.pod",
                    item.pod,
                    'expected a static pod\'s container name such as kube-scheduler, or "" for none',
                )
            )
        if item.unit:
            why = _service_problem(item.unit)
            if why:
                problems.append(error(f"{where}.unit", item.unit, why))
    if clients.ca_file is not None and (
        not ABS_PATH_RE.fullmatch(clients.ca_file) or ".." in clients.ca_file.split("/")
    ):
        problems.append(
            error(
                "clients.ca_file",
                clients.ca_file,
                "expected an absolute path on the nodes such as /etc/kubernetes/pki/ca.crt",
            )
        )


def _check_cluster(profile: Profile, problems: list[Problem]) -> None:
    api = profile.cluster.kubeadm_api
    if kubeadm_api.find(api) is None:
        choices = "; ".join(f"{a.name} ({a.kubeadm})" for a in kubeadm_api.APIS)
        problems.append(error("cluster.kubeadm_api", api, f"expected one of {choices}"))


def _check_lb_nodes_used(profile: Profile, chosen: Strategy, problems: list[Problem]) -> None:
    """``[[lb_nodes]]`` under a strategy that puts no balancer on them is refused, not skipped:
    the operator listed machines for kubeha to install on, so either the list or the strategy
    is a mistake, and guessing either way surprises (a proxy installed on machines that are not
    cluster nodes, or hosts named in the profile silently left out)."""
    if not profile.lb_nodes or chosen.uses_lb_nodes(profile):
        return
    setting = chosen.lb_nodes_setting(profile)
    users = [s.key for s in registry.strategies() if s.lb_nodes]
    problems.append(
        error(
            "lb_nodes",
            ", ".join(n.name for n in profile.lb_nodes[:5])
            + (f" and {len(profile.lb_nodes) - 5} more" if len(profile.lb_nodes) > 5 else ""),
            f"strategy {chosen.key}"
            + (f" with {setting}" if setting else "")
            + " runs no load balancer on dedicated nodes: expected no [[lb_nodes]] entries "
            + (
                f"(only {' or '.join(users)} with its balancer on LB nodes uses them)"
                if users
                else "(no strategy uses them)"
            ),
        )
    )


def _check_tables(profile: Profile, chosen: Strategy[Any] | None, problems: list[Problem]) -> None:
    """A profile holds its strategy's tables only (a file's others are set aside when read): a
    profile built otherwise in code is refused, never rendered with a table nobody reads."""
    own = chosen.owned_tables() if chosen is not None else {}
    for name, value in profile.tables.items():
        if name not in own:
            problems.append(
                error(
                    name,
                    value,
                    f"not a table of strategy {profile.strategy}: expected one of "
                    f"{', '.join(own) or '(none)'}",
                )
            )


def _check_set_aside(
    profile: Profile, chosen: Strategy[Any] | None, problems: list[Problem]
) -> None:
    """A table a file gave for another strategy (its section, or another table it owns such as
    local-nginx's ``[install]``, which older kubeha wrote into every profile) is set aside when
    the profile is read (``wizard.profile_io``): not used, not checked, written back as it was.
    A warning names each, so the operator knows that, e.g., ``[local_nginx] listen_port`` does
    not set local-haproxy's port."""
    for name, value in profile.set_aside.items():
        owner = registry.owner(name)
        whose = f"strategy {owner.key}'s table" if owner is not None else "a strategy's table"
        reads = (
            f"the profile's strategy is {chosen.key}, which reads [{chosen.section}]"
            if chosen is not None
            else "no strategy reads it"
        )
        problems.append(
            warning(
                name,
                value,
                f"set aside: [{name}] is {whose} and {reads}; it is not used and is kept as "
                "written when the profile is saved: choose that strategy, move the settings, "
                "or remove the table",
            )
        )


def validate(profile: Profile) -> list[Problem]:
    """Every problem in ``profile``: errors first, then warnings, in field order."""
    problems: list[Problem] = []
    if profile.schema_version != SCHEMA_VERSION:
        problems.append(
            error("schema_version", profile.schema_version, f"expected {SCHEMA_VERSION}")
        )
    if not PROFILE_NAME_RE.fullmatch(profile.name):
        problems.append(
            error(
                "name",
                profile.name,
                "expected letters, digits, '_', '.', '-', at most 63, starting with a letter or digit",
            )
        )
    _check_nodes(profile, problems)
    strategy = registry.find(profile.strategy)
    _check_tables(profile, strategy, problems)
    _check_set_aside(profile, strategy, problems)
    if strategy is None:
        problems.append(
            error("strategy", profile.strategy, f"expected one of {', '.join(registry.names())}")
        )
    else:
        problems.extend(strategy.check(profile))
        _check_lb_nodes_used(profile, strategy, problems)
    _check_health(profile, problems)
    _check_ssh(profile, problems)
    _check_clients(profile, problems)
    _check_cluster(profile, problems)
    return sorted(problems, key=lambda p: not p.is_error)
