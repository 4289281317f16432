"""The lab's fixed facts: subnet, node naming, address and port scheme, folders.

Everything else in the lab, the deploy engine and the tests derive names and numbers from here,
so a node's namespace, address and SSH port are always computed the same way.
"""

from __future__ import annotations

from pathlib import Path

# --- network -------------------------------------------------------------------------------
SUBNET = "10.77.0.0/24"
PREFIX_LENGTH = 24
BRIDGE_ADDRESS = "10.77.0.1"
BRIDGE_NETNS = "kubeha-lab"
BRIDGE_NAME = "br0"
NODE_NETNS_PREFIX = "kubeha-lab-"
NODE_INTERFACE = "eth0"

# First host octet per role: m1 = .11, w1 = .21, lb1 = .31 (at most 9 masters and LB nodes).
# Workers 10 to 99 (for deploy-scale runs) take .110 to .199.
ROLE_PREFIX = {"master": "m", "worker": "w", "lb": "lb"}
ROLE_FIRST_OCTET = {"master": 11, "worker": 21, "lb": 31}
MAX_PER_ROLE = 9
MAX_WORKERS = 99
EXTRA_WORKER_OCTET = 110  # w10
HAPROXY_VIP = "10.77.0.100"
IPVS_VIP = "10.103.97.2"
# A dual-stack lab (``lab up --ipv6``): a ULA /64 beside the IPv4 subnet, each address mirroring
# its IPv4 twin's last octet (10.77.0.11 -> fd77::11); the host namespace still gets none.
SUBNET6 = "fd77::/64"
PREFIX_LENGTH6 = 64
BRIDGE_ADDRESS6 = "fd77::1"
HAPROXY_VIP6 = "fd77::100"
IPVS_VIP6 = "fd77:97::2"  # outside the nodes' /64, as IPVS_VIP is outside 10.77.0.0/24
QEMU_FIRST_OCTET = 41  # reserved for later QEMU IPVS nodes

# --- reaching the nodes from the host --------------------------------------------------------
SSH_HOST = "127.0.0.1"
SSH_PORT_BASE = 2200  # node port = base + last octet: m1 -> 2211, w1 -> 2221, lb1 -> 2231
APISERVER_PORT = 6443
APISERVER_SERVICE = "kube-apiserver-lab.service"
APISERVER_HOSTNAME = "apiserver.cluster.local"

# --- folders ----------------------------------------------------------------------------------
CACHE_DIR = Path("/var/cache/kubeha")  # rootfs images, kept across labs
LAB_DIR = Path("/var/lib/kubeha/lab")  # keys, CA, known_hosts, state, node overlays
NODES_DIR = LAB_DIR / "nodes"
STATE_FILE = LAB_DIR / "state.json"
LOCK_FILE = LAB_DIR / "lab.lock"
SSH_KEY_FILE = LAB_DIR / "ssh" / "id_ed25519"
KNOWN_HOSTS_FILE = LAB_DIR / "ssh" / "known_hosts"
HOST_KEYS_DIR = LAB_DIR / "ssh" / "hostkeys"
CA_DIR = LAB_DIR / "ca"
CA_CERT_FILE = CA_DIR / "ca.crt"
CA_KEY_FILE = CA_DIR / "ca.key"
FORWARDER_LOG = LAB_DIR / "forwarder.log"

# --- timing -----------------------------------------------------------------------------------
BOOT_TIMEOUT = 90.0  # seconds for a node to reach running/degraded with sshd listening
REAL_BOOT_TIMEOUT = 300.0  # the same with a real control plane (etcd waits for its peers)
STOP_TIMEOUT = 15.0  # seconds for a node to power off before it is killed
GONE_TIMEOUT = 15.0  # seconds for what ``lab down`` stopped to leave /proc (zombies reaped)


def node_name(role: str, index: int) -> str:
    """``m1``, ``w2``, ``lb1``: the node's name from its role and 1-based index."""
    return f"{ROLE_PREFIX[role]}{index}"


def node_address(role: str, index: int) -> str:
    """The node's address on the lab bridge."""
    if role == "worker" and MAX_PER_ROLE < index <= MAX_WORKERS:
        return f"10.77.0.{EXTRA_WORKER_OCTET + index - 10}"
    if not 1 <= index <= MAX_PER_ROLE:
        raise ValueError(f"a lab has at most {max_of(role)} {role} nodes")
    return f"10.77.0.{ROLE_FIRST_OCTET[role] + index - 1}"


def address6(address: str) -> str:
    """The IPv6 twin of a lab IPv4 address: ``10.77.0.11`` -> ``fd77::11``."""
    return f"fd77::{address.rsplit('.', 1)[1]}"


def max_of(role: str) -> int:
    """How many nodes of ``role`` a lab can have."""
    return MAX_WORKERS if role == "worker" else MAX_PER_ROLE


def ssh_port(address: str) -> int:
    """The forwarder port on 127.0.0.1 for a node address: 2200 + its last octet."""
    return SSH_PORT_BASE + int(address.rsplit(".", 1)[1])


def node_netns(name: str) -> str:
    """The network namespace of a node: ``kubeha-lab-m1``."""
    return f"{NODE_NETNS_PREFIX}{name}"


def bridge_port(name: str) -> str:
    """The bridge-side end of a node's veth pair (in the bridge namespace)."""
    return f"veth-{name}"
