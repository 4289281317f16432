"""What the engine learns about a node before it changes anything: OS family, init system, sudo,
which binaries are present and whether the ports the strategy needs are free."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wizard.engine.remote import RemoteNode
from wizard.strategies import registry

TOOLS = ("curl", "systemctl", "apt-get", "dnf")  # what the engine itself uses

_FACTS_SCRIPT = r"""
. /etc/os-release 2>/dev/null
echo "os=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
for b in BINARIES; do command -v "$b" >/dev/null 2>&1 && echo "bin=$b"; done
ss -Htln 2>/dev/null | awk '{print "listen=" $4}'
"""


def binaries() -> tuple[str, ...]:
    """The programs looked for on a node: every strategy's packages' and the engine's own."""
    return tuple(dict.fromkeys((*(p.binary for p in registry.packages()), *TOOLS)))


@dataclass(frozen=True)
class Facts:
    os: str
    os_like: str
    init: str
    binaries: frozenset[str]
    listening: tuple[str, ...] = field(default=())

    @property
    def family(self) -> str:
        words = {self.os, *self.os_like.split()}
        if words & {"debian", "ubuntu"}:
            return "debian"
        if words & {"rhel", "fedora", "centos", "rocky", "almalinux"}:
            return "redhat"
        return self.os

    def port_in_use(self, address: str, port: int) -> str | None:
        """The listening socket that holds ``address:port`` (or the port on every address)."""
        return port_holder(self.listening, address, port)


def port_holder(listening: Iterable[str], address: str, port: int) -> str | None:
    """Of ``listening`` (local addresses as ``ss -Htln`` prints them), the one that holds
    ``address:port`` (or the port on every address)."""
    for local in listening:
        host, _, held = local.rpartition(":")
        if held != str(port):
            continue
        host = host.strip("[]")
        if address in ("*", "0.0.0.0", "::") or host in ("*", "0.0.0.0", "::", address):
            return local
    return None


def gather(node: RemoteNode) -> Facts:
    result = node.sh(_FACTS_SCRIPT.replace("BINARIES", " ".join(binaries())), timeout=30)
    values: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        values.setdefault(key, []).append(value.strip())
    return Facts(
        os=(values.get("os") or ["unknown"])[0],
        os_like=(values.get("os_like") or [""])[0],
        init=(values.get("init") or [""])[0],
        binaries=frozenset(values.get("bin", [])),
        listening=tuple(values.get("listen", [])),
    )
