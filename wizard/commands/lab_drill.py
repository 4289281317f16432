"""The lab's side of ``kubeha verify --drill``: whether a profile's nodes are the lab's, and the
lab's own kill, cut and drain controls as the drill's fault. The command injects that fault
into the engine's drill (:func:`wizard.engine.drill_run.run_drill`), which never imports the lab.

The lab is imported when one of these runs, not when the command's parser is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.engine.drill import Fault
from wizard.profile import Profile


def is_lab_profile(profile: Profile) -> bool:
    """True when every node of the profile is a node of the lab that is up (same address, SSH
    through the lab's forwarder port): an nspawn node, or a QEMU guest (``--ipvs-nodes``)."""
    from wizard.lab import load_state
    from wizard.lab.qemu import GuestState, read_guests
    from wizard.lab.state import NodeState

    state = load_state()
    if state is None or not state.ready:
        return False
    found: list[NodeState | GuestState] = [*state.nodes, *read_guests()]
    lab_nodes = {n.name: n for n in found}
    for node in profile.all_nodes():
        lab = lab_nodes.get(node.name)
        if lab is None or not same_address(node.address, lab):
            return False
        if (node.ssh.port or profile.ssh.port) != lab.ssh_port:
            return False
    return True


def same_address(address: str, lab_node: object) -> bool:
    """``address`` is one of the lab node's: its IPv4 address or (dual stack) its IPv6 one."""
    from wizard.netaddr import parse_ip

    ip = parse_ip(address)
    own = (getattr(lab_node, "address", ""), getattr(lab_node, "address6", ""))
    return ip is not None and any(parse_ip(a) == ip for a in own if a)


@dataclass
class LabFault(Fault):
    """A lab master taken away from outside its node: its apiserver killed or drained, or the
    node cut off the network; then restored."""

    master: str
    kind: str

    def take(self) -> None:
        from wizard import lab

        if self.kind == "kill":
            lab.kill_apiserver(self.master)
        elif self.kind == "drain":
            lab.drain(self.master)
        else:
            lab.cut(self.master)

    def restore(self) -> None:
        from wizard import lab

        lab.restore(self.master)
