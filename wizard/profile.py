"""The profile: one typed, immutable description of an HA control-plane install.

A profile names the strategy, the masters, workers and optional load-balancer nodes, the
settings of each strategy, the health check and how to reach the nodes over SSH. It never holds a password, passphrase or sudo password. Reading and writing TOML lives in
``wizard.profile_io``; checking values lives in ``wizard.validation``.

Each strategy's own settings are tables of :attr:`Profile.sections` (its section, and any other
table it owns, such as local-nginx's ``install``), declared by the strategy, never here: the
strategy registry declares every table's type with :func:`declare_tables` when it is imported,
so this module imports no strategy. ``profile.local_nginx`` reads the table named
``local_nginx``, ``profile.section("ipvs", Ipvs)`` reads it typed, and ``Profile(...,
local_nginx=...)`` or ``dataclasses.replace(profile, local_nginx=...)`` set it, for every
declared table alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar, overload

from wizard import kubeadm_api

SCHEMA_VERSION = 1


class Role(StrEnum):
    """What a node is in the profile."""

    MASTER = "master"
    WORKER = "worker"
    LB = "lb"  # a dedicated load-balancer node ([[lb_nodes]])


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


# How kubeha's checks ask each apiserver (README "Health checks on a hardened apiserver"):
# anonymous: /readyz asked without credentials, 200 is ready (the apiserver must allow anonymous
# requests); client-cert: asked with a client certificate the node already has (kubelet's by
# default), 200 is ready; alive-on-401: asked without credentials, 200, 401 or 403 is "alive"
# (the TLS handshake and an HTTP answer), so a draining master is not seen before it closes.
CHECK_AUTHS = ("anonymous", "client-cert", "alive-on-401")
KUBELET_CLIENT_PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/readyz"
    interval: float = 1.0
    timeout: float = 1.0
    fall: int = 2
    rise: int = 2
    auth: str = "anonymous"
    # client-cert: the certificate (PEM) on every node that checks; its key in the same file
    # (kubelet's is) unless client_key names another. Read where it is: never copied.
    client_cert: str = KUBELET_CLIENT_PEM
    client_key: str = ""

    @property
    def ok_codes(self) -> tuple[str, ...]:
        """The HTTP statuses a check counts as a master that is up."""
        return ("200", "401", "403") if self.auth == "alive-on-401" else ("200",)

    @property
    def curl_auth(self) -> str:
        """curl's arguments for the check's credentials (shell-safe: paths are validated)."""
        if self.auth != "client-cert":
            return ""
        key = f" --key {self.client_key}" if self.client_key else ""
        return f"--cert {self.client_cert}{key}"


@dataclass(frozen=True)
class Ssh:
    user: str | None = None
    key_file: str | None = None
    port: int | None = None  # None: ~/.ssh/config's Port, else 22
    bastion: str | None = None
    sudo: bool = False
    known_hosts: str | None = None


@dataclass(frozen=True)
class ClientKubeconfig:
    """A kubeconfig on the nodes whose ``server:`` kubeha repoints to the load balancer, and the
    systemd unit that reads it at start (``""``: none to restart, e.g. kubectl's), or the kubeadm
    static pod that reads it (``pod``: its container is stopped through crictl and kubelet
    starts it again from the same manifest)."""

    path: str
    unit: str = ""
    pod: str = ""


# kubeadm's kubeconfigs, used when [clients] repoint is on and names none. Only the files present
# on a node are touched. kubelet reads kubelet.conf at start: kubelet.service is restarted. The
# controller-manager and scheduler of kubeadm are static pods that kubelet runs: restarting
# kubelet does not restart them, so their manifests are moved out of kubelet's folder and back
# (kubelet stops the pod and starts it again). admin.conf is read by kubectl at each call.
KUBEADM_KUBECONFIGS = (
    ClientKubeconfig("/etc/kubernetes/kubelet.conf", "kubelet.service"),
    ClientKubeconfig("/etc/kubernetes/controller-manager.conf", pod="kube-controller-manager"),
    ClientKubeconfig("/etc/kubernetes/scheduler.conf", pod="kube-scheduler"),
    ClientKubeconfig("/etc/kubernetes/admin.conf"),
)
# kubeadm points these at the master's own apiserver on purpose (a master's kubelet.conf from
# kubeadm 1.33): on a master whose file names its own apiserver they stay there unless
# [clients] repoint_local says otherwise (Clients.repoint_local).
KUBEADM_LOCAL_KUBECONFIGS = frozenset(
    {
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
        "/etc/kubernetes/kubelet.conf",
    }
)
REPOINT_LOCAL_HELP = (
    "Local ones: kubeadm points controller-manager.conf, scheduler.conf and a master's own "
    "kubelet.conf at the master's own apiserver on purpose. Repointed, they may reach an "
    "apiserver of another version during `kubeadm upgrade` (version skew: "
    "kubernetes/kubernetes#94398, #129956), and the upgrade may write them back."
)


@dataclass(frozen=True)
class Clients:
    """``[clients]``: not a strategy's section but the whole cluster's. Off by default (kubeha
    installs the load balancer and leaves every kubeconfig as it is); ``repoint = true`` points
    each listed kubeconfig's ``server:`` at the load balancer after the nodes verify, once a
    certificate preflight has shown every master's serving certificate covers that address."""

    repoint: bool = False
    kubeconfigs: tuple[ClientKubeconfig, ...] = ()
    ca_file: str | None = None  # the cluster CA on the nodes; else each kubeconfig's own CA
    # REPOINT_LOCAL_HELP: kubeadm's local kubeconfigs (KUBEADM_LOCAL_KUBECONFIGS) repointed too,
    # on a master where they name its own apiserver (off: they stay local).
    repoint_local: bool = False

    def targets(self) -> tuple[ClientKubeconfig, ...]:
        """The kubeconfigs to repoint: the profile's, kubeadm's when it names none; none when
        repointing is off."""
        if not self.repoint:
            return ()
        return self.kubeconfigs or KUBEADM_KUBECONFIGS


@dataclass(frozen=True)
class Cluster:
    """``[cluster]``: what kubeha writes for the whole cluster beyond the load balancer. Only
    the kubeadm snippet's API for now (``wizard.kubeadm_api``)."""

    kubeadm_api: str = kubeadm_api.DEFAULT


class Sections(Mapping[str, Any]):
    """Each strategy's section of a profile by its table name (``local_nginx``), in the
    registry's order: immutable, compared and hashed by content like the rest of a profile."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sections):
            return self._items == other._items
        return isinstance(other, Mapping) and self._items == dict(other)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Sections({self._items!r})"


T = TypeVar("T")
# Where the strategies' tables come from: name -> type, in the registry's order. Set by
# wizard.strategies.registry (declare_tables) when it is imported; read on each new Profile, so
# a strategy registered later (a test's) is seen too. Nothing here imports a strategy.
_table_source: Callable[[], Mapping[str, type]] = dict


def declare_tables(source: Callable[[], Mapping[str, type]]) -> None:
    """Where every strategy's tables (name -> frozen dataclass) come from: every profile made
    after this holds each of them, at its defaults unless given."""
    global _table_source
    _table_source = source


def declared_tables() -> dict[str, type]:
    """The declared tables (name -> type), in the registry's order."""
    return dict(_table_source())


def default_sections() -> dict[str, Any]:
    """Every declared table at its defaults, in the registry's order."""
    return {name: table() for name, table in _table_source().items()}


@dataclass(frozen=True, init=False)
class Profile:
    """A whole install. Besides the fields below, every declared strategy table is an attribute
    and a keyword of its own (``profile.ipvs``, ``Profile(..., ipvs=Ipvs(...))``)."""

    name: str
    strategy: str
    masters: tuple[Master, ...]
    workers: tuple[Node, ...] = ()
    lb_nodes: tuple[Node, ...] = ()
    sections: Sections = field(default_factory=Sections)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    ssh: Ssh = field(default_factory=Ssh)
    clients: Clients = field(default_factory=Clients)
    cluster: Cluster = field(default_factory=Cluster)
    schema_version: int = SCHEMA_VERSION

    def __init__(
        self,
        name: str,
        strategy: str,
        masters: tuple[Master, ...],
        workers: tuple[Node, ...] = (),
        lb_nodes: tuple[Node, ...] = (),
        sections: Mapping[str, Any] | None = None,
        health_check: HealthCheck | None = None,
        ssh: Ssh | None = None,
        schema_version: int = SCHEMA_VERSION,
        clients: Clients | None = None,
        cluster: Cluster | None = None,
        **by_name: Any,
    ) -> None:
        merged = default_sections()
        merged.update(sections or {})
        for key, value in by_name.items():
            if key not in merged:
                raise TypeError(
                    f"Profile() got an unexpected keyword argument {key!r} (a strategy's table "
                    "is known once wizard.strategies.registry is imported)"
                )
            merged[key] = value
        values = {
            "name": name,
            "strategy": strategy,
            "masters": masters,
            "workers": workers,
            "lb_nodes": lb_nodes,
            "sections": Sections(merged),
            "health_check": HealthCheck() if health_check is None else health_check,
            "ssh": Ssh() if ssh is None else ssh,
            "clients": Clients() if clients is None else clients,
            "cluster": Cluster() if cluster is None else cluster,
            "schema_version": schema_version,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __getattr__(self, name: str) -> Any:
        """A strategy's section by its table name (only asked when no attribute has the name)."""
        sections = self.__dict__.get("sections") if not name.startswith("_") else None
        if sections is not None and name in sections:
            return sections[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @overload
    def section(self, name: str) -> Any: ...

    @overload
    def section(self, name: str, kind: type[T]) -> T: ...

    def section(self, name: str, kind: type[T] | None = None) -> Any:
        """The table named ``name`` (``haproxy_keepalived``); KeyError when none has it. With
        ``kind``, typed: a TypeError unless the table is a ``kind``."""
        value = self.sections[name]
        if kind is not None and not isinstance(value, kind):
            raise TypeError(f"[{name}] is a {type(value).__name__}, expected a {kind.__name__}")
        return value

    def all_nodes(self) -> tuple[Master | Node, ...]:
        """Every node once: masters, then workers, then dedicated load-balancer nodes."""
        return (*self.masters, *self.workers, *self.lb_nodes)

    @cached_property
    def _by_name(self) -> dict[str, tuple[Master | Node, Role]]:
        """Name -> (node, role), the first node of each name, built once: lookups stay O(1) so
        rendering thousands of nodes stays linear."""
        index: dict[str, tuple[Master | Node, Role]] = {}
        for role, group in ((Role.MASTER, self.masters), (Role.WORKER, self.workers)):
            for node in group:
                index.setdefault(node.name, (node, role))
        for node in self.lb_nodes:
            index.setdefault(node.name, (node, Role.LB))
        return index

    def node(self, name: str) -> Master | Node:
        return self._by_name[name][0]

    def role_of(self, name: str) -> Role:
        found = self._by_name.get(name)
        return found[1] if found is not None else Role.LB
