"""Addresses as kubeha needs them: IPs, host names, host:port forms and network membership."""

from __future__ import annotations

import ipaddress
import re

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")

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
    if not isinstance(text, str) or not _HOSTNAME_RE.match(text):
        return False
    last = text.rsplit(".", 1)[-1]
    return not last.isdigit()  # "10.0.0.300" is a broken IP, not a host name


def is_address(text: str) -> bool:
    return parse_ip(text) is not None or is_hostname(text)


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
