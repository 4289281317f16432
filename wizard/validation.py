"""``validate(profile)``: every problem at once, each naming the field, the value and what is
expected.

Every string that reaches a generated file is held to its own character set here, so a newline,
quote, brace, semicolon or space can never break or inject a line into nginx, haproxy,
keepalived, systemd or shell files. The renderer refuses control characters again as a second net.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from wizard.netaddr import is_address, is_hostname, network_of, parse_ip
from wizard.problems import Problem, error, warning
from wizard.profile import (
    BUILD_HOSTS_LOCAL,
    INSTALL_METHODS,
    IPVS_SCHEDULERS,
    RUN_ON_CHOICES,
    SCHEMA_VERSION,
    STRATEGIES,
    Master,
    Node,
    Profile,
)

NODE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9/_.~-]{0,200}$")
ABS_PATH_RE = re.compile(r"^/[A-Za-z0-9/_.+-]{0,250}$")
FILE_PATH_RE = re.compile(r"^[A-Za-z0-9/_.+~-][A-Za-z0-9/_.+~@-]{0,1000}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
CONFIGURE_FLAG_RE = re.compile(r"^--[a-z0-9_-]+(?:=[A-Za-z0-9/_.,+-]*)?$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~:-]{0,60}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
BASTION_RE = re.compile(
    r"^(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?(?P<host>[^@:\[\]]+|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]{1,5}))?$"
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


def _groups(profile: Profile) -> Iterable[tuple[str, int, Master | Node]]:
    for group in NODE_GROUPS:
        for index, node in enumerate(getattr(profile, group)):
            yield group, index, node


def _check_nodes(profile: Profile, problems: list[Problem]) -> None:
    if not profile.masters:
        problems.append(error("masters", [], "expected at least one master"))
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
    seen_names: dict[str, str] = {}
    seen_addresses: dict[str, str] = {}
    seen_ssh: dict[tuple[str, int], str] = {}
    for group, index, node in _groups(profile):
        where = f"{group}[{index}]"
        if not NODE_NAME_RE.match(node.name):
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
        if ssh.port is not None:
            _port(problems, f"{where}.ssh.port", ssh.port)
        if ssh.user is not None and not USER_RE.match(ssh.user):
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
        if ip is not None and not ip.is_loopback:
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
    if not INTERFACE_RE.match(section.interface) or section.interface in {".", ".."}:
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
    for node in lb_hosts:
        group = "masters" if isinstance(node, Master) else "lb_nodes"
        index = [n.name for n in getattr(profile, group)].index(node.name)
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
        if parse_ip(master.address) is None:
            _ip(problems, f"masters[{index}].address", master.address, "IPVS real servers need IPs")


def _check_health(profile: Profile, problems: list[Problem]) -> None:
    hc = profile.health_check
    if not HTTP_PATH_RE.match(hc.path):
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


def _check_install(profile: Profile, problems: list[Problem]) -> None:
    inst = profile.install
    if inst.method not in INSTALL_METHODS:
        problems.append(
            error("install.method", inst.method, f"expected one of {', '.join(INSTALL_METHODS)}")
        )
    if not ABS_PATH_RE.match(inst.prefix) or "/../" in f"{inst.prefix}/" or inst.prefix == "/":
        problems.append(
            error(
                "install.prefix", inst.prefix, "expected an absolute folder such as /opt/kube-nginx"
            )
        )
    for index, flag in enumerate(inst.configure_flags):
        if not CONFIGURE_FLAG_RE.match(flag):
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
    if inst.method == "source":
        if not inst.source_tarball and not inst.source_package_version:
            problems.append(
                error(
                    "install.source_tarball",
                    None,
                    "method 'source' needs source_tarball or source_package_version",
                )
            )
        if inst.source_package_version is not None and not VERSION_RE.match(
            inst.source_package_version
        ):
            problems.append(
                error(
                    "install.source_package_version",
                    inst.source_package_version,
                    "expected a Debian version such as 1.22.1-9+deb12u1",
                )
            )
        if inst.source_sha256 is not None and not SHA256_RE.match(inst.source_sha256):
            problems.append(
                error(
                    "install.source_sha256", inst.source_sha256, "expected 64 lower-case hex digits"
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
    if not FILE_PATH_RE.match(value):
        problems.append(
            error(field, value, "expected a file path without spaces, quotes or control characters")
        )
    elif not os.path.isfile(os.path.expanduser(value)):
        problems.append(error(field, value, "expected an existing file on this machine"))


def _check_ssh(profile: Profile, problems: list[Problem]) -> None:
    ssh = profile.ssh
    if ssh.user is not None and not USER_RE.match(ssh.user):
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
        match = BASTION_RE.match(ssh.bastion)
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
    if not PROFILE_NAME_RE.match(profile.name):
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
