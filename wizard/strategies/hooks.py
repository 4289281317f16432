"""What a strategy's hooks take and give, none of it the engine's: a report callback for what a
run-level hook does, a connected node as anything with ``run(argv, timeout=...)``, what verify
learns on a node beyond its probe, and the lab's network for a lab-ready section.

Strategies never import the engine; the engine (and the lab, and the tests) hand these in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Report(Protocol):
    """Says what a run-level hook (a build, a cluster check) does. ``status`` is one of the
    engine's event words: started, ok, changed, info, failed. The engine shows each call as a
    run-level event of the hook's phase."""

    def __call__(
        self,
        status: str,
        message: str,
        lines: tuple[str, ...] = (),
        *,
        progress: float | None = None,
        duration: float | None = None,
    ) -> None: ...


class Ran(Protocol):
    """The result of a command on a node."""

    @property
    def ok(self) -> bool: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class Runs(Protocol):
    """A connected node: runs an argv (as root) and gives its result."""

    def run(self, argv: Sequence[str], *, timeout: float = ...) -> Ran: ...


@dataclass(frozen=True)
class VerifyExtras:
    """What ``kubeha verify`` learns on one node beyond its probe through the load balancer."""

    holds_vip: bool | None = None  # a node that may carry the VIP: whether it holds it now
    table: tuple[str, ...] = ()  # the node's balancer table (IPVS), one line each
    all_failing: str = ""  # the balancer's own word that every master fails its check


@dataclass(frozen=True)
class LabSite:
    """The lab's network, for a strategy's lab-ready section (``wizard.lab.profiles``)."""

    vrrp_vip: str  # a free address in the nodes' subnet, for a VIP the nodes move by VRRP
    virtual_ip: str  # an address outside every node network, for a VIP on every node
    prefix_length: int  # the nodes' subnet
    interface: str  # the nodes' network interface
    apiserver_port: int
    apiserver_hostname: str
    lb_nodes: bool  # the lab has dedicated load-balancer nodes
    ipv6: bool = False  # the nodes are addressed by IPv6 (a dual-stack lab's IPv6 profiles)
