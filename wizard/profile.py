"""The profile: one typed, immutable description of an HA control-plane install.

A profile names the strategy, the masters, workers and optional load-balancer nodes, the
settings of each strategy, the health check, the install method and how to reach the nodes over
SSH. It never holds a password, passphrase or sudo password. Reading and writing TOML lives in
``wizard.profile_io``; checking values lives in ``wizard.validation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

SCHEMA_VERSION = 1

STRATEGIES = ("local-nginx", "haproxy-keepalived", "ipvs")
INSTALL_METHODS = ("package", "source", "binary")
RUN_ON_CHOICES = ("masters", "lb-nodes")
IPVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq")
BUILD_HOSTS_LOCAL = "local"
# Every node's proxy lists every master, so output grows with masters x nodes: both are capped.
MAX_MASTERS = 15
MAX_NODES = 5000


@dataclass(frozen=True)
class SshTarget:
    """Per-node overrides of how to reach the node; None means: use the profile's [ssh]."""

    host: str | None = None
    port: int | None = None
    user: str | None = None


@dataclass(frozen=True)
class Master:
    name: str
    address: str
    apiserver_port: int = 6443
    ssh: SshTarget = field(default_factory=SshTarget)


@dataclass(frozen=True)
class Node:
    """A worker or a dedicated load-balancer node."""

    name: str
    address: str
    ssh: SshTarget = field(default_factory=SshTarget)


@dataclass(frozen=True)
class LocalNginx:
    listen_address: str = "127.0.0.1"
    listen_port: int = 8443


@dataclass(frozen=True)
class HaproxyKeepalived:
    vip: str = ""
    prefix_length: int = 24
    interface: str = "eth0"
    virtual_router_id: int = 51
    frontend_port: int = 8443
    unicast: bool = True
    run_on: str = "masters"
    advert_int: int = 1


@dataclass(frozen=True)
class Ipvs:
    vip: str = "10.103.97.2"
    port: int = 6443
    scheduler: str = "rr"
    apiserver_hostname: str = "apiserver.cluster.local"


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/readyz"
    interval: float = 1.0
    timeout: float = 1.0
    fall: int = 2
    rise: int = 2


@dataclass(frozen=True)
class Install:
    method: str = "package"
    prefix: str = "/opt/kube-nginx"
    # method = "source"
    source_tarball: str | None = None
    source_package_version: str | None = None
    source_sha256: str | None = None
    configure_flags: tuple[str, ...] = ("--with-stream", "--without-http")
    build_host: str = BUILD_HOSTS_LOCAL
    # method = "binary"
    binary_path: str | None = None


@dataclass(frozen=True)
class Ssh:
    user: str | None = None
    key_file: str | None = None
    port: int | None = None  # None: ~/.ssh/config's Port, else 22
    bastion: str | None = None
    sudo: bool = False
    known_hosts: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    strategy: str
    masters: tuple[Master, ...]
    workers: tuple[Node, ...] = ()
    lb_nodes: tuple[Node, ...] = ()
    local_nginx: LocalNginx = field(default_factory=LocalNginx)
    haproxy_keepalived: HaproxyKeepalived = field(default_factory=HaproxyKeepalived)
    ipvs: Ipvs = field(default_factory=Ipvs)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    install: Install = field(default_factory=Install)
    ssh: Ssh = field(default_factory=Ssh)
    schema_version: int = SCHEMA_VERSION

    def all_nodes(self) -> tuple[Master | Node, ...]:
        """Every node once: masters, then workers, then dedicated load-balancer nodes."""
        return (*self.masters, *self.workers, *self.lb_nodes)

    @cached_property
    def _by_name(self) -> dict[str, tuple[Master | Node, str]]:
        """Name -> (node, role), the first node of each name, built once: lookups stay O(1) so
        rendering thousands of nodes stays linear."""
        index: dict[str, tuple[Master | Node, str]] = {}
        for role, group in (("master", self.masters), ("worker", self.workers)):
            for node in group:
                index.setdefault(node.name, (node, role))
        for node in self.lb_nodes:
            index.setdefault(node.name, (node, "lb"))
        return index

    def node(self, name: str) -> Master | Node:
        return self._by_name[name][0]

    def role_of(self, name: str) -> str:
        found = self._by_name.get(name)
        return found[1] if found is not None else "lb"

    def lb_hosts(self) -> tuple[Master | Node, ...]:
        """The nodes that run haproxy + keepalived for the haproxy-keepalived strategy."""
        if self.haproxy_keepalived.run_on == "lb-nodes":
            return self.lb_nodes
        return self.masters
