"""The render plan's types: for each node, the files it gets (path, content, mode, owner, the
command that checks the file, the unit it belongs to) plus the services to enable, the packages
to install and the URL that proves the node reaches a ready apiserver through its load balancer;
and snippets for the operator (kubeadm ClusterConfiguration, kubeconfig server address) that go
on no node. Light to import: strategies declare their plans with these at start-up."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from wizard.packages import Package
from wizard.profile import Profile


@dataclass(frozen=True)
class RenderedFile:
    """A file for one node. ``check`` is an argv in which ``{file}`` stands for the path of the
    uploaded temporary copy; ``service`` is the unit that must reload or restart when it
    changes (``restart`` when a reload is not enough, e.g. a unit file)."""

    path: str
    content: str
    template: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    check: tuple[str, ...] = ()
    service: str | None = None
    restart: bool = False
    kind: str = "file"  # "file", or "line" for one managed line in a shared file (/etc/hosts)
    data: bytes | None = None  # a binary file's bytes (``content`` then only describes it)
    secret: bool = False  # a credential (with ``data``): diffs and dry runs say "redacted"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(
            self.data if self.data is not None else self.content.encode()
        ).hexdigest()


@dataclass(frozen=True)
class InPlaceRule:
    """A setting of one of the plan's files that an apply does not change on a node where
    kubeha's install of the same strategy has it otherwise (e.g. keepalived's VRRP version:
    nodes on different versions ignore each other). ``pattern`` is a regular expression (one
    line, MULTILINE) whose group 1 is the setting; a file without it has ``absent``. The facts
    phase refuses the change, naming ``field`` and saying ``why``."""

    path: str
    pattern: str
    absent: str
    field: str
    why: str


@dataclass(frozen=True)
class NodePlan:
    node: str
    role: str
    address: str
    files: tuple[RenderedFile, ...]
    services: tuple[str, ...]
    packages: tuple[Package, ...]
    verify_url: str
    ports: tuple[tuple[str, int], ...] = ()  # (address, port) the node's load balancer binds
    cleanup: tuple[tuple[str, ...], ...] = ()  # argvs uninstall runs after stopping services
    # A shell script run on the node after /readyz answers through its load balancer, until it
    # exits 0 or verify times out: the LB holds every master it should (ipvs: every master that
    # answers is in the table). Its last output line says what is still missing.
    settle_check: str = ""
    # Its load balancer binds ``ports`` with SO_REUSEPORT (kube-nginx's ``reuseport``, haproxy's
    # default): another node-local balancer that does too can take the port over in place, the
    # two serving side by side until the old one stops (a strategy change with no gap).
    shares_port: bool = False
    # (unit, signal) that stops a unit without cutting the sessions in flight (nginx: QUIT,
    # haproxy's master: USR1); used when another balancer takes the port over. Its units' own
    # stop stays the quick one: a restart must not wait for long-lived watches to end.
    drain_signals: tuple[tuple[str, str], ...] = ()
    # The static pod manifests among ``files`` (``run_as = "static-pod"``): kubelet runs them,
    # so kubelet must run on the node, and no manifest kubeha did not write is replaced.
    static_pods: tuple[str, ...] = ()
    # Settings of its files an apply refuses to change on a node that runs them (facts).
    in_place_rules: tuple[InPlaceRule, ...] = ()


@dataclass(frozen=True)
class RenderPlan:
    profile: Profile
    nodes: tuple[NodePlan, ...]
    snippets: tuple[RenderedFile, ...] = field(default=())
    server_url: str = ""  # what clients dial through the load balancer
    # What an older kubeha repointed clients to for this profile (local-nginx's 127.0.0.1:8443
    # before the API host name): uninstall points those back too, a re-apply moves them on.
    former_server_urls: tuple[str, ...] = ()

    def for_node(self, name: str) -> NodePlan:
        for plan in self.nodes:
            if plan.node == name:
                return plan
        raise KeyError(name)
