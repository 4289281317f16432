"""The lab network: a bridge in a namespace of its own, one namespace and veth pair per node.

The host's own namespace gets no lab address or route and no namespace gets a default route,
so nothing the lab does can leave the machine. ``cut`` sets a node's bridge port down (frames
to and from it are dropped silently, as if the host were gone); ``restore`` sets it up.
"""

from __future__ import annotations

from pathlib import Path

from wizard.lab.constants import (
    BRIDGE_ADDRESS,
    BRIDGE_ADDRESS6,
    BRIDGE_NAME,
    BRIDGE_NETNS,
    NODE_INTERFACE,
    NODE_NETNS_PREFIX,
    PREFIX_LENGTH,
    PREFIX_LENGTH6,
    bridge_port,
    node_netns,
)
from wizard.lab.system import run

NETNS_DIR = Path("/run/netns")


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def lab_namespaces() -> list[str]:
    """Every namespace the lab may have made (bridge and nodes), present now."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(
        n.name
        for n in NETNS_DIR.iterdir()
        if n.name == BRIDGE_NETNS or n.name.startswith(NODE_NETNS_PREFIX)
    )


def create_bridge(ipv6: bool = False) -> None:
    """The bridge namespace with ``br0`` at 10.77.0.1/24 (and fd77::1/64 with ``ipv6``), lo
    up."""
    ns = BRIDGE_NETNS
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "add",
            BRIDGE_NAME,
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ]
    )
    run(["ip", "-n", ns, "addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE_NAME])
    if ipv6:
        add_address6(ns, BRIDGE_ADDRESS6, BRIDGE_NAME)
    run(["ip", "-n", ns, "link", "set", BRIDGE_NAME, "up"])


def add_address6(ns: str, address: str, device: str) -> None:
    """An IPv6 address on ``device``, usable at once (``nodad``: the lab owns the subnet, and a
    tentative address would refuse binds for a second after boot). Nothing in the lab sends a
    router advertisement: no route appears but the /64's own, and no default route."""
    run(
        ["ip", "-n", ns, "-6", "addr", "add", f"{address}/{PREFIX_LENGTH6}", "dev", device, "nodad"]
    )


def create_node_net(name: str, address: str, address6: str = "") -> str:
    """A node's namespace, with ``eth0`` at ``address`` (and ``address6``) plugged into the
    bridge."""
    ns = node_netns(name)
    port = bridge_port(name)
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    # Create the pair inside the bridge namespace, then move the node end into the node's.
    run(
        [
            "ip",
            "-n",
            BRIDGE_NETNS,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            NODE_INTERFACE,
            "netns",
            ns,
        ]
    )
    run(["ip", "-n", BRIDGE_NETNS, "link", "set", port, "master", BRIDGE_NAME])
    run(["ip", "-n", BRIDGE_NETNS, "link", "set", port, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", NODE_INTERFACE])
    if address6:
        add_address6(ns, address6, NODE_INTERFACE)
    run(["ip", "-n", ns, "link", "set", NODE_INTERFACE, "up"])
    return ns


def delete_namespace(name: str) -> None:
    """Delete a namespace if it exists (its veth ends go with it)."""
    if netns_exists(name):
        run(["ip", "netns", "delete", name], check=False)


def set_cut(name: str, cut: bool) -> None:
    """Drop (cut) or pass (restore) everything to and from the node at the bridge."""
    run(["ip", "-n", BRIDGE_NETNS, "link", "set", bridge_port(name), "down" if cut else "up"])


def is_cut(name: str) -> bool | None:
    """True if the node's bridge port is down, None if it does not exist."""
    proc = run(["ip", "-n", BRIDGE_NETNS, "-o", "link", "show", bridge_port(name)], check=False)
    if proc.returncode != 0:
        return None
    flags = proc.stdout.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in proc.stdout else []
    return "UP" not in flags


def lab_veths() -> list[str]:
    """Lab veth ends left in the host namespace (there should be none)."""
    proc = run(["ip", "-o", "link", "show", "type", "veth"], check=False)
    return [
        line.split(":")[1].strip().split("@")[0]
        for line in proc.stdout.splitlines()
        if "veth-" in line
    ]
