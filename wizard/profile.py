"""The profile: one typed, immutable description of an HA control-plane install.

A profile names the strategy, the masters, workers and optional load-balancer nodes, the
settings of each strategy, the health check and how to reach the nodes over SSH. It never holds a password, passphrase or sudo password. Reading and writing TOML lives in
``wizard.profile_io``; checking values lives in ``wizard.validation``.

A profile holds the chosen strategy's tables only (its section, and any other table it owns,
such as local-nginx's ``install``) in :attr:`Profile.tables`, typed by the strategy, never here:
``strategy.settings(profile)`` reads its section as its own type (``Strategy[S]``), and
``profile.with_table(name, value)`` sets one. This module imports no strategy. Tables a file
gave for other strategies are :attr:`Profile.set_aside`, as written (``wizard.profile_io``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, is_dataclass, replace
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

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


def _frozen(value: object) -> object:
    """A hashable stand-in for a TOML value (tables and arrays as sorted tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _says_something(value: object) -> bool:
    """False for a table at its type's defaults (it says nothing: absent is the same)."""
    if not is_dataclass(value) or isinstance(value, type):
        return True
    try:
        return bool(value != type(value)())
    except TypeError:  # a table type with a required field: always kept
        return True


class Tables(Mapping[str, object]):
    """Tables of a profile by name, immutable, compared and hashed by content like the rest of
    a profile. A typed table at its defaults is left out: absent and default are one profile."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, object] | None = None) -> None:
        self._items = {k: v for k, v in (items or {}).items() if _says_something(v)}

    def __getitem__(self, name: str) -> object:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tables):
            return self._items == other._items
        return isinstance(other, Mapping) and self._items == dict(other)

    def __hash__(self) -> int:
        return hash(_frozen(self._items))

    def __repr__(self) -> str:
        return f"Tables({self._items!r})"


T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """A whole install. ``tables`` holds the chosen strategy's tables (its section, and any
    other table it owns), typed by the strategy (``Strategy.settings``) and at their defaults
    where absent; ``set_aside`` holds, as written (TOML values), the tables a file gave for
    other strategies: never used, written back as they are (``wizard.profile_io``)."""

    name: str
    strategy: str
    masters: tuple[Master, ...]
    workers: tuple[Node, ...] = ()
    lb_nodes: tuple[Node, ...] = ()
    tables: Mapping[str, object] = field(default_factory=Tables)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    ssh: Ssh = field(default_factory=Ssh)
    clients: Clients = field(default_factory=Clients)
    cluster: Cluster = field(default_factory=Cluster)
    schema_version: int = SCHEMA_VERSION
    set_aside: Mapping[str, object] = field(default_factory=Tables)

    def __post_init__(self) -> None:
        for name in ("tables", "set_aside"):  # any mapping given: held immutable
            value = getattr(self, name)
            if not isinstance(value, Tables):
                object.__setattr__(self, name, Tables(value))

    def table(self, name: str, kind: type[T]) -> T:
        """The table named ``name`` as a ``kind`` (its defaults when absent); a TypeError when
        the profile holds another type under that name."""
        value = self.tables.get(name)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            raise TypeError(f"[{name}] is a {type(value).__name__}, expected a {kind.__name__}")
        return value

    def with_table(self, name: str, value: object) -> Profile:
        """A copy holding ``value`` as its table ``name``."""
        return replace(self, tables={**self.tables, name: value})

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
