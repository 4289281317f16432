"""Checks of one value that the validator and every strategy's check share: a port, an
address, an IP that can be a node's or a VIP's, each problem naming the field, the value and
what is expected."""

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
    never_a_host,
    parse_ip,
)
from wizard.problems import Problem, error, warning
from wizard.profile import Master, Node, Profile
from wizard.textsafe import printable

INTERFACE_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}\Z")
NODE_GROUPS = ("masters", "workers", "lb_nodes")
ABS_PATH_RE = re.compile(r"\A/[A-Za-z0-9/_.+-]{0,250}\Z")
MAX_LOCAL_PATH = 4096  # PATH_MAX


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


def normal_folder(path: str) -> str:
    """``path`` as the folder it names: ``//``, ``/.`` and ``/opt//x/.`` become ``/``, ``/opt/x``
    (POSIX keeps a leading ``//``; Linux treats it as ``/``, so it is collapsed too)."""
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    return posixpath.normpath(path)


def local_file(problems: list[Problem], field: str, value: str) -> None:
    """A file on this machine (a key, known_hosts, a tarball, a binary). kubeha only opens it
    (Python's file calls, paramiko, a program's own argv[0]), never through a shell, so any
    character a path may hold is taken: spaces, quotes, ``[``, ``]``, non-ASCII letters. Only
    control and invisible formatting characters are refused (newline, tab, ESC, NUL, bidi
    controls, non-breaking spaces): a one-line field cannot show them as typed, every message
    would show the path escaped, not as the file's name, and NUL cannot be in a path at all."""
    hidden = [char for char in dict.fromkeys(value) if not char.isprintable() and char != " "]
    if not value:
        problems.append(error(field, value, "expected the path of a file on this machine"))
    elif hidden:
        problems.append(
            error(
                field,
                value,
                f"holds {', '.join(printable(c) for c in hidden)}: expected a file path without "
                "control or invisible formatting characters (newline, tab, ESC, NUL, bidi "
                "controls, non-breaking spaces), which no field can show as typed",
            )
        )
    elif len(value) > MAX_LOCAL_PATH:
        problems.append(
            error(field, value, f"expected a file path of at most {MAX_LOCAL_PATH} characters")
        )
    elif not os.path.isfile(os.path.expanduser(value)):
        problems.append(error(field, value, "expected an existing file on this machine"))
