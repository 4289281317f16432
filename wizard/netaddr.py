"""Addresses as kubeha needs them: IPs, host names, host:port forms, network membership, and the
addresses that can never be a node's or a virtual IP (unspecified, broadcast, multicast).

Every pattern is matched whole (``re.fullmatch``): ``$`` alone would accept a trailing newline."""

from __future__ import annotations

import ipaddress
import re

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"\A(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\Z")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """The IP address in ``text``, or None. Zone ids (``fe80::1%eth0``) are refused."""
    if not isinstance(text, str) or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_hostname(text: str) -> bool:
    """An RFC 1123 host name that is not an IP-looking string of digits and dots."""
    if not isinstance(text, str) or not _HOSTNAME_RE.fullmatch(text):
        return False
    last = text.rsplit(".", 1)[-1]
    return not last.isdigit()  # "10.0.0.300" is a broken IP, not a host name


def is_address(text: str) -> bool:
    return parse_ip(text) is not None or is_hostname(text)


_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _plain(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 address it stands for."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def never_a_host(ip: IPAddress) -> str | None:
    """Why ``ip`` can never be one machine's address (nor a virtual IP), or None."""
    ip = _plain(ip)
    if ip.is_unspecified:
        return "the unspecified address (any address)"
    if ip == _LIMITED_BROADCAST:
        return "the broadcast address"
    if ip.is_multicast:
        return "a multicast address"
    return None


def is_loopback(ip: IPAddress) -> bool:
    return _plain(ip).is_loopback


def is_link_local(ip: IPAddress) -> bool:
    return _plain(ip).is_link_local


def host_port(address: str, port: int) -> str:
    """``10.0.0.1:6443``, ``[fd00::1]:6443`` or ``api.example:6443``."""
    ip = parse_ip(address)
    if ip is not None and ip.version == 6:
        return f"[{ip.compressed}]:{port}"
    return f"{address}:{port}"


def url_host(address: str) -> str:
    ip = parse_ip(address)
    return f"[{ip.compressed}]" if ip is not None and ip.version == 6 else address


def network_of(address: str, prefix_length: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{address}/{prefix_length}", strict=False)
