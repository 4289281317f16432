"""The running lab's record (JSON in the lab folder): its nodes, addresses, PIDs, mounts.

Written as soon as each process starts, so a crashed ``lab up`` can still be cleaned up from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields

from wizard.lab.constants import STATE_FILE


@dataclass
class NodeState:
    """One node as the lab made it."""

    name: str
    role: str  # "master", "worker" or "lb"
    address: str
    ssh_host: str
    ssh_port: int
    netns: str
    merged: str
    address6: str = ""  # its IPv6 address in a dual-stack lab (``lab up --ipv6``)
    nspawn_pid: int | None = None
    nspawn_started: int | None = None
    init_pid: int | None = None
    init_started: int | None = None
    # A node added to a running lab (wizard.lab.masters) has its own SSH forwarder.
    forwarder_pid: int | None = None
    forwarder_started: int | None = None


@dataclass
class LabState:
    """The whole lab: its shape, nodes, bridge namespace and forwarder."""

    masters: int
    workers: int
    lb_nodes: int
    rootfs: str
    bridge_netns: str
    nodes: list[NodeState] = field(default_factory=list)
    forwarder_pid: int | None = None
    forwarder_started: int | None = None
    ready: bool = False
    control_plane: str = "stand-in"  # or "real" (wizard.lab.control_plane)
    kube_bin: str = ""  # a real lab's binaries on the host (bind-mounted into every node)
    # A real lab whose apiservers refuse anonymous requests (--anonymous-auth=false); every
    # node has a kubelet-style client certificate (kubeha lab up --hardened).
    hardened: bool = False
    ipv6: bool = False  # dual stack: every node has an IPv6 address too (constants.SUBNET6)
    # A kubeadm lab (control_plane "kubeadm"): kubelet and kubeadm's build, the cached node
    # layer and images folder (wizard.lab.kubeadm_lab).
    kubeadm_bin: str = ""
    kubeadm_layer: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.masters, self.workers, self.lb_nodes)

    def node(self, name: str) -> NodeState:
        for node in self.nodes:
            if node.name == name:
                return node
        from wizard.lab.errors import LabError

        names = ", ".join(n.name for n in self.nodes)
        raise LabError(f"the lab has no node {name!r} (its nodes: {names})")


def _record(state: LabState) -> dict:
    """The state as JSON data; an IPv4-only lab's without the dual-stack keys, so a kubeha that
    predates ``--ipv6`` still reads the record of the lab it shares."""
    data = asdict(state)
    if not state.kubeadm_layer:  # as ipv6 below: an older kubeadm-less kubeha reads it too
        del data["kubeadm_bin"], data["kubeadm_layer"]
    if not state.ipv6:
        del data["ipv6"]
        for node in data["nodes"]:
            del node["address6"]
    return data


def save_state(state: LabState) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_name(f".{STATE_FILE.name}.tmp")
    tmp.write_text(json.dumps(_record(state), indent=2) + "\n")
    os.replace(tmp, STATE_FILE)


def read_state() -> LabState | None:
    """The recorded lab, or None when no lab is recorded."""
    try:
        data = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    nodes = [NodeState(**_known(NodeState, n)) for n in data.pop("nodes", [])]
    return LabState(**_known(LabState, data), nodes=nodes)


def _known(kind: type, data: dict) -> dict:
    """The keys of ``data`` that ``kind`` has: a record written by another kubeha version (a
    field this one lacks, such as another branch's lab option) is still read, so that lab can
    be brought down."""
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def clear_state() -> None:
    STATE_FILE.unlink(missing_ok=True)
