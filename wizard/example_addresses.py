"""Documentation addresses (RFC 5737, RFC 3849): the example profiles' nodes live there.

On some networks those ranges are routed, so ``apply``, ``verify`` and ``uninstall`` refuse a
profile that names one, before any connection: :func:`refuse_example_addresses`. Only literal
addresses are checked (node addresses, per-node ``ssh.host``, the VIP, ``ssh.bastion``); host
names are never resolved. ``validate`` and ``render`` accept them: the examples must validate.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from wizard.errors import KubehaError
from wizard.netaddr import parse_ip
from wizard.profile import Profile
from wizard.strategies import registry
from wizard.validation import BASTION_RE

DOCUMENTATION_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


class ExampleAddressError(KubehaError):
    """The profile still names documentation addresses: nothing was connected to."""

    exit_code = 2


def example_range(text: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The documentation range holding the literal address ``text``, or None (a host name, an
    address elsewhere, nothing). An IPv4-mapped IPv6 address counts as its IPv4 address."""
    ip = parse_ip(text) if text else None
    if ip is None:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return next((net for net in DOCUMENTATION_RANGES if ip in net), None)


def _bastion_host(spec: str) -> str | None:
    match = BASTION_RE.match(spec.strip())
    return match.group("host").strip("[]") if match else None


def _addresses(profile: Profile) -> Iterator[tuple[str, str | None]]:
    """(field, literal) for every address kubeha connects to or through for this profile."""
    for group in ("masters", "workers", "lb_nodes"):
        for index, node in enumerate(getattr(profile, group)):
            yield f"{group}[{index}].address", node.address
            yield f"{group}[{index}].ssh.host", node.ssh.host
    strategy = registry.find(profile.strategy)
    if strategy is not None:
        yield from strategy.addresses(profile)
    if profile.ssh.bastion:
        for hop in profile.ssh.bastion.split(","):
            yield "ssh.bastion", _bastion_host(hop)


def example_address_problems(profile: Profile) -> list[str]:
    """One line per documentation address in the profile, naming the field, value and range."""
    lines = []
    for field, text in _addresses(profile):
        network = example_range(text)
        if network is not None:
            # text parsed as an IP address: it holds no control character to escape
            lines.append(
                f"{field}: {text} is an example address (documentation range {network}): "
                "copy the profile and put your nodes' addresses in"
            )
    return lines


def refuse_example_addresses(profile: Profile, command: str) -> None:
    """Raise :class:`ExampleAddressError` when the profile names a documentation address."""
    lines = example_address_problems(profile)
    if lines:
        listed = "\n".join(f"  {line}" for line in lines)
        raise ExampleAddressError(
            f"{command}: refusing to connect: profile {profile.name!r} uses example addresses "
            f"(on some networks these ranges are routed):\n{listed}"
        )
