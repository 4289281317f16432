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


# Every address that kubeha writes into a file or a command is formatted here, by one of the
# functions below (templates use them as filters: ``wizard.templating``). An IPv6 address is
# written compressed, and in brackets wherever a port or a URL follows or a parser would read
# its colons as one: ``[fd00::1]:6443``, ``https://[fd00::1]:6443/``, ss's ``dst [fd00::1]``.


def url_host(address: str) -> str:
    """The host as a URL, a ``host:port`` or an ``ss`` filter writes it: ``10.0.0.1``,
    ``[fd00::1]`` or ``api.example``."""
    ip = parse_ip(address)
    return f"[{ip.compressed}]" if ip is not None and ip.version == 6 else address


def host_port(address: str, port: int) -> str:
    """``10.0.0.1:6443``, ``[fd00::1]:6443`` or ``api.example:6443``: a URL's authority,
    haproxy's ``bind``/``server``, nginx's ``listen``/``server``, ipvsadm's ``-t``/``-r``,
    kubeadm's ``controlPlaneEndpoint``."""
    return f"{url_host(address)}:{port}"


def https_url(address: str, port: int, path: str = "") -> str:
    """``https://10.0.0.1:6443/readyz``, ``https://[fd00::1]:6443/readyz``."""
    return f"https://{host_port(address, port)}{path}"


def bare(address: str) -> str:
    """An address as a bare field writes it (keepalived's ``unicast_peer`` and
    ``virtual_ipaddress``, /etc/hosts, certSANs, nft set elements): an IP compressed, with no
    brackets; a host name as it is."""
    ip = parse_ip(address)
    return ip.compressed if ip is not None else address


def family(address: str) -> int | None:
    """4 or 6 for an IP, None for a host name."""
    ip = parse_ip(address)
    return ip.version if ip is not None else None


def any_address(version: int) -> str:
    """The unspecified address of a family: ``0.0.0.0`` or ``::``."""
    return "::" if version == 6 else "0.0.0.0"


def loopback(version: int) -> str:
    """The loopback address of a family: ``127.0.0.1`` or ``::1``."""
    return "::1" if version == 6 else "127.0.0.1"


def host_cidr(address: str) -> str:
    """The one-address network of an IP: ``10.0.0.1/32`` or ``fd00::1/128``."""
    ip = parse_ip(address)
    assert ip is not None, address
    return f"{ip.compressed}/{ip.max_prefixlen}"


def curl_resolve(name: str, port: int, address: str) -> str:
    """curl's ``--resolve`` value: ``name:port:10.0.0.1`` or ``name:port:[fd00::1]``."""
    return f"{name}:{port}:{url_host(address)}"


def curl_connect_to(name: str, port: int, address: str, to_port: int) -> str:
    """curl's ``--connect-to`` value: ``name:port:[fd00::1]:to_port``."""
    return f"{name}:{port}:{host_port(address, to_port)}"


def network_of(address: str, prefix_length: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{address}/{prefix_length}", strict=False)
