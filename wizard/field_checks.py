"""Checks of one value that the validator and every strategy's check share: a port, an
address, an IP that can be a node's or a VIP's, each problem naming the field, the value and
what is expected."""

from __future__ import annotations

import re
from collections.abc import Iterable

from wizard.netaddr import (
    IPAddress,
    is_address,
    is_hostname,
    is_link_local,
    is_loopback,
    never_a_host,
    parse_ip,
)
from wizard.problems import Problem, error, warning
from wizard.profile import Master, Node, Profile

INTERFACE_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}\Z")
NODE_GROUPS = ("masters", "workers", "lb_nodes")


def check_port(problems: list[Problem], field: str, value: int) -> None:
    if not 1 <= value <= 65535:
        problems.append(error(field, value, "expected a port from 1 to 65535"))


def check_address(problems: list[Problem], field: str, value: str) -> None:
    if not is_address(value):
        problems.append(
            error(field, value, "expected an IPv4 or IPv6 address or a host name, e.g. 10.0.0.11")
        )


def check_lower_case(problems: list[Problem], field: str, value: str) -> None:
    """A host name that reaches the kubeadm snippet (``certSANs``, ``controlPlaneEndpoint``)
    must be lower case: kubeadm checks both as RFC 1123 names, which are lower case only."""
    if is_hostname(value) and value != value.lower():
        problems.append(
            error(
                field,
                value,
                f"expected {value.lower()!r}: kubeadm refuses upper-case names in certSANs and "
                "controlPlaneEndpoint (RFC 1123 names are lower case)",
            )
        )


def check_ip(problems: list[Problem], field: str, value: str, why: str) -> bool:
    if parse_ip(value) is None:
        problems.append(error(field, value, f"expected an IPv4 or IPv6 address ({why})"))
        return False
    return True


def check_host_ip(
    problems: list[Problem],
    field: str,
    value: str,
    ip: IPAddress,
    loopback_ok: bool,
    loopback_why: str,
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


def check_vip(problems: list[Problem], field: str, value: str, ip: IPAddress) -> None:
    check_host_ip(problems, field, value, ip, False, "(a virtual IP is never loopback)")


def node_groups(profile: Profile) -> Iterable[tuple[str, int, Master | Node]]:
    for group in NODE_GROUPS:
        for index, node in enumerate(getattr(profile, group)):
            yield group, index, node


def master_ports(profile: Profile) -> set[int]:
    """The ports the masters' kube-apiservers bind (on every address)."""
    return {m.apiserver_port for m in profile.masters}
