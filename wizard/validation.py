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

import os
import posixpath
import re
from collections.abc import Iterable

from wizard.netaddr import (
    IPAddress,
    is_address,
    is_hostname,
    is_link_local,
    is_loopback,
    network_of,
    never_a_host,
    parse_ip,
)
from wizard.problems import Problem, error, warning
from wizard.profile import (
    BUILD_HOSTS_LOCAL,
    INSTALL_METHODS,
    IPVS_SCHEDULERS,
    MAX_MASTERS,
    MAX_NODES,
    RUN_ON_CHOICES,
    SCHEMA_VERSION,
    STRATEGIES,
    Master,
    Node,
    Profile,
)

NODE_NAME_RE = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
PROFILE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
INTERFACE_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}\Z")
HTTP_PATH_RE = re.compile(r"\A/[A-Za-z0-9/_.~-]{0,200}\Z")
ABS_PATH_RE = re.compile(r"\A/[A-Za-z0-9/_.+-]{0,250}\Z")
FILE_PATH_RE = re.compile(r"\A[A-Za-z0-9/_.+~-][A-Za-z0-9/_.+~@-]{0,1000}\Z")
USER_RE = re.compile(r"\A[a-z_][a-z0-9_.-]{0,31}\Z")
CONFIGURE_FLAG_RE = re.compile(r"\A--[a-z0-9_-]+(?:=[A-Za-z0-9/_.,+-]*)?\Z")
VERSION_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9.+~:-]{0,60}\Z")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
BASTION_RE = re.compile(
    r"\A(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?(?P<host>[^@:\[\]]+|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)

NODE_GROUPS = ("masters", "workers", "lb_nodes")


def _port(problems: list[Problem], field: str, value: int) -> None:
    if not 1 <= value <= 65535:
        problems.append(error(field, value, "expected a port from 1 to 65535"))


def _address(problems: list[Problem], field: str, value: str) -> None:
    if not is_address(value):
        problems.append(
            error(field, value, "expected an IPv4 or IPv6 address or a host name, e.g. 10.0.0.11")
        )


def _ip(problems: list[Problem], field: str, value: str, why: str) -> bool:
    if parse_ip(value) is None:
        problems.append(error(field, value, f"expected an IPv4 or IPv6 address ({why})"))
        return False
    return True


def _host_ip(
    problems: list[Problem],
    field: str,
    value: str,
    ip: IPAddress,
    loopback_ok: bool,
    loopback_why: str = "(loopback only for a one-node local-nginx)",
) -> None:
    """Refuse an IP that can never be this node's (or this VIP's) address on the network."""
    kind = never_a_host(ip)
    if kind is not None:
        problems.append(
            error(field, value, f"is {kind}: expected one machine's own address, e.g. 10.0.0.11")
        )
    elif is_loopback(ip) and not loopback_ok:
        problems.append(
            error(
                field,
                value,
                "is a loopback address, which reaches only the machine itself: expected an "
                f"address the other nodes reach it on {loopback_why}",
            )
        )
    elif is_link_local(ip) and ip.version == 6:
        problems.append(
            error(
                field,
                value,
                "is an IPv6 link-local address, usable only with a zone (%eth0), which kubeha "
                "does not take: expected a global or unique-local address such as fd00::11",
            )
        )
    elif is_link_local(ip):
        problems.append(
            warning(
                field,
                value,
                "a link-local address (169.254.0.0/16) is not routed and may change; "
                "a stable address on the nodes' network is safer",
            )
        )


def _vip(problems: list[Problem], field: str, value: str, ip: IPAddress) -> None:
    _host_ip(problems, field, value, ip, False, "(a virtual IP is never loopback)")


def _groups(profile: Profile) -> Iterable[tuple[str, int, Master | Node]]:
    for group in NODE_GROUPS:
        for index, node in enumerate(getattr(profile, group)):
            yield group, index, node


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
    loopback_ok = profile.strategy == "local-nginx" and total == 1
    seen_names: dict[str, str] = {}
    seen_addresses: dict[str, str] = {}
    seen_ssh: dict[tuple[str, int], str] = {}
    for group, index, node in _groups(profile):
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
        _address(problems, f"{where}.address", node.address)
        ip = parse_ip(node.address)
        if ip is not None:
            _host_ip(problems, f"{where}.address", node.address, ip, loopback_ok)
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
            _port(problems, f"{where}.apiserver_port", node.apiserver_port)
        ssh = node.ssh
        if ssh.host is not None:
            _address(problems, f"{where}.ssh.host", ssh.host)
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
            _port(problems, f"{where}.ssh.port", ssh.port)
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


def _master_ports(profile: Profile) -> set[int]:
    return {m.apiserver_port for m in profile.masters}


def _check_local_nginx(profile: Profile, problems: list[Problem]) -> None:
    section = profile.local_nginx
    if _ip(
        problems, "local_nginx.listen_address", section.listen_address, "the proxy's listen address"
    ):
        ip = parse_ip(section.listen_address)
        kind = never_a_host(ip) if ip is not None else None
        if ip is not None and kind is not None and not ip.is_unspecified:
            problems.append(
                error(
                    "local_nginx.listen_address",
                    section.listen_address,
                    f"is {kind}: expected an address of the node to listen on, e.g. 127.0.0.1",
                )
            )
        elif ip is not None and not ip.is_loopback:
            problems.append(
                warning(
                    "local_nginx.listen_address",
                    section.listen_address,
                    "a local proxy usually listens on loopback (127.0.0.1) so only the node uses it",
                )
            )
    _port(problems, "local_nginx.listen_port", section.listen_port)
    if section.listen_port in _master_ports(profile):
        problems.append(
            error(
                "local_nginx.listen_port",
                section.listen_port,
                "the proxy runs on the masters too, where kube-apiserver already binds this port "
                "on every address; choose another port, e.g. 8443",
            )
        )


def _check_haproxy_keepalived(profile: Profile, problems: list[Problem]) -> None:
    section = profile.haproxy_keepalived
    if section.run_on not in RUN_ON_CHOICES:
        problems.append(
            error(
                "haproxy_keepalived.run_on",
                section.run_on,
                f"expected one of {', '.join(RUN_ON_CHOICES)}",
            )
        )
    elif section.run_on == "lb-nodes" and not profile.lb_nodes:
        problems.append(
            error(
                "haproxy_keepalived.run_on",
                section.run_on,
                "expected at least one [[lb_nodes]] entry",
            )
        )
    lb_hosts = profile.lb_hosts() if section.run_on in RUN_ON_CHOICES else ()
    if len(lb_hosts) == 1:
        problems.append(
            warning(
                "haproxy_keepalived.run_on",
                section.run_on,
                "a single load-balancer node has nowhere to fail over to; use at least two",
            )
        )
    if len(lb_hosts) > 100:
        problems.append(
            error(
                "haproxy_keepalived.run_on",
                len(lb_hosts),
                "expected at most 100 load-balancer nodes",
            )
        )
    if not 1 <= section.virtual_router_id <= 255:
        problems.append(
            error(
                "haproxy_keepalived.virtual_router_id",
                section.virtual_router_id,
                "expected 1 to 255",
            )
        )
    if not 1 <= section.advert_int <= 255:
        problems.append(
            error("haproxy_keepalived.advert_int", section.advert_int, "expected 1 to 255 seconds")
        )
    if not INTERFACE_RE.fullmatch(section.interface) or section.interface in {".", ".."}:
        problems.append(
            error(
                "haproxy_keepalived.interface",
                section.interface,
                "expected a network interface name: letters, digits, '_', '.', '-', ':', at most 15",
            )
        )
    _port(problems, "haproxy_keepalived.frontend_port", section.frontend_port)
    if section.run_on == "masters" and section.frontend_port in _master_ports(profile):
        problems.append(
            error(
                "haproxy_keepalived.frontend_port",
                section.frontend_port,
                "haproxy runs on the masters, where kube-apiserver already binds this port; "
                "choose another port, e.g. 8443",
            )
        )
    vip = parse_ip(section.vip)
    if vip is None:
        problems.append(
            error(
                "haproxy_keepalived.vip",
                section.vip,
                "expected the virtual IP address, e.g. 10.0.0.100",
            )
        )
        return
    _vip(problems, "haproxy_keepalived.vip", section.vip, vip)
    max_prefix = 32 if vip.version == 4 else 128
    if not 1 <= section.prefix_length <= max_prefix:
        problems.append(
            error(
                "haproxy_keepalived.prefix_length",
                section.prefix_length,
                f"expected 1 to {max_prefix}",
            )
        )
        return
    network = network_of(section.vip, section.prefix_length)
    if (
        vip in (network.network_address, network.broadcast_address)
        and max_prefix - section.prefix_length > 1
    ):
        problems.append(
            error(
                "haproxy_keepalived.vip",
                section.vip,
                f"is the network or broadcast address of {network}",
            )
        )
    for group, index, node in _groups(profile):
        node_ip = parse_ip(node.address)
        if node_ip == vip:
            problems.append(
                error(
                    "haproxy_keepalived.vip",
                    section.vip,
                    f"expected a free address: it is {group}[{index}].address",
                )
            )
    group = "masters" if section.run_on == "masters" else "lb_nodes"
    for index, node in enumerate(lb_hosts):  # lb_hosts is the group itself, in its order
        node_ip = parse_ip(node.address)
        if node_ip is None:
            _ip(problems, f"{group}[{index}].address", node.address, "keepalived peers need IPs")
        elif node_ip.version != vip.version or node_ip not in network:
            problems.append(
                error(
                    "haproxy_keepalived.vip",
                    f"{section.vip}/{section.prefix_length}",
                    f"expected in the same subnet as the load-balancer nodes ({node.name} is {node.address})",
                )
            )


def _check_ipvs(profile: Profile, problems: list[Problem]) -> None:
    section = profile.ipvs
    vip = parse_ip(section.vip)
    if vip is None:
        problems.append(
            error("ipvs.vip", section.vip, "expected the virtual IP address, e.g. 10.103.97.2")
        )
    else:
        _vip(problems, "ipvs.vip", section.vip, vip)
        for group, index, node in _groups(profile):
            if parse_ip(node.address) == vip:
                problems.append(
                    error(
                        "ipvs.vip",
                        section.vip,
                        f"expected a free address: it is {group}[{index}].address",
                    )
                )
    _port(problems, "ipvs.port", section.port)
    if section.scheduler not in IPVS_SCHEDULERS:
        problems.append(
            error(
                "ipvs.scheduler", section.scheduler, f"expected one of {', '.join(IPVS_SCHEDULERS)}"
            )
        )
    if not is_hostname(section.apiserver_hostname):
        problems.append(
            error(
                "ipvs.apiserver_hostname",
                section.apiserver_hostname,
                "expected a host name, e.g. apiserver.cluster.local",
            )
        )
    for index, master in enumerate(profile.masters):
        master_ip = parse_ip(master.address)
        if master_ip is None:
            _ip(problems, f"masters[{index}].address", master.address, "IPVS real servers need IPs")
        elif vip is not None and master_ip.version != vip.version:
            problems.append(
                error(
                    f"masters[{index}].address",
                    master.address,
                    f"expected an IPv{vip.version} address, the family of ipvs.vip "
                    f"({section.vip}): IPVS forwards only within one IP family",
                )
            )


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


def normal_folder(path: str) -> str:
    """``path`` as the folder it names: ``//``, ``/.`` and ``/opt//x/.`` become ``/``, ``/opt/x``
    (POSIX keeps a leading ``//``; Linux treats it as ``/``, so it is collapsed too)."""
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    return posixpath.normpath(path)


def _check_install(profile: Profile, problems: list[Problem]) -> None:
    inst = profile.install
    if inst.method not in INSTALL_METHODS:
        problems.append(
            error("install.method", inst.method, f"expected one of {', '.join(INSTALL_METHODS)}")
        )
    if not ABS_PATH_RE.fullmatch(inst.prefix) or ".." in inst.prefix.split("/"):
        problems.append(
            error(
                "install.prefix", inst.prefix, "expected an absolute folder such as /opt/kube-nginx"
            )
        )
    elif normal_folder(inst.prefix) == "/":
        problems.append(
            error(
                "install.prefix",
                inst.prefix,
                "is the root folder '/': expected a folder of its own such as /opt/kube-nginx",
            )
        )
    for index, flag in enumerate(inst.configure_flags):
        if not CONFIGURE_FLAG_RE.fullmatch(flag):
            problems.append(
                error(
                    f"install.configure_flags[{index}]",
                    flag,
                    "expected a configure flag such as --with-stream",
                )
            )
    if inst.method != "package" and profile.strategy != "local-nginx":
        problems.append(
            error(
                "install.method",
                inst.method,
                "source and binary installs build kube-nginx: only for strategy local-nginx",
            )
        )
    names = {n.name for n in profile.all_nodes()}
    if inst.build_host != BUILD_HOSTS_LOCAL and inst.build_host not in names:
        problems.append(
            error(
                "install.build_host",
                inst.build_host,
                "expected 'local' or the name of a node in this profile",
            )
        )
    if inst.method == "source":
        if not inst.source_tarball and not inst.source_package_version:
            problems.append(
                error(
                    "install.source_tarball",
                    None,
                    "method 'source' needs source_tarball or source_package_version",
                )
            )
        if inst.source_package_version is not None and not VERSION_RE.fullmatch(
            inst.source_package_version
        ):
            problems.append(
                error(
                    "install.source_package_version",
                    inst.source_package_version,
                    "expected a Debian version such as 1.22.1-9+deb12u1",
                )
            )
        if inst.source_sha256 is not None and not SHA256_RE.fullmatch(inst.source_sha256):
            problems.append(
                error(
                    "install.source_sha256", inst.source_sha256, "expected 64 lower-case hex digits"
                )
            )
        if inst.source_tarball is not None:
            _local_file(problems, "install.source_tarball", inst.source_tarball)
    if inst.method == "binary":
        if not inst.binary_path:
            problems.append(
                error(
                    "install.binary_path",
                    None,
                    "method 'binary' needs the path of a kube-nginx binary",
                )
            )
        else:
            _local_file(problems, "install.binary_path", inst.binary_path)


def _local_file(problems: list[Problem], field: str, value: str) -> None:
    if not FILE_PATH_RE.fullmatch(value):
        problems.append(
            error(field, value, "expected a file path without spaces, quotes or control characters")
        )
    elif not os.path.isfile(os.path.expanduser(value)):
        problems.append(error(field, value, "expected an existing file on this machine"))


def _check_ssh(profile: Profile, problems: list[Problem]) -> None:
    ssh = profile.ssh
    if ssh.user is not None and not USER_RE.fullmatch(ssh.user):
        problems.append(
            error("ssh.user", ssh.user, "expected a Unix user name such as root or ops")
        )
    if ssh.port is not None:
        _port(problems, "ssh.port", ssh.port)
    if ssh.key_file is not None:
        _local_file(problems, "ssh.key_file", ssh.key_file)
    if ssh.known_hosts is not None:
        _local_file(problems, "ssh.known_hosts", ssh.known_hosts)
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
    if profile.strategy not in STRATEGIES:
        problems.append(
            error("strategy", profile.strategy, f"expected one of {', '.join(STRATEGIES)}")
        )
    elif profile.strategy == "local-nginx":
        _check_local_nginx(profile, problems)
    elif profile.strategy == "haproxy-keepalived":
        _check_haproxy_keepalived(profile, problems)
    else:
        _check_ipvs(profile, problems)
    _check_health(profile, problems)
    _check_install(profile, problems)
    _check_ssh(profile, problems)
    return sorted(problems, key=lambda p: not p.is_error)
