"""Masters added to and removed from the binary real control plane (``lab up --control-plane
real``) while it runs, as an operator replaces one (issue 25's replacement run: m1 -> m4, ...).

:func:`add_master` (the next free name, m4 beside m1-m3): its own nspawn node on the bridge, its
certificates from the lab CA (etcd's and the apiserver's with its own address among the SANs),
the cluster's service-account key pair copied from a running master (tokens stay valid), an
etcd member added with ``etcdctl member add`` on a running master and then started with
``--initial-cluster-state=existing``, kube-apiserver, controller-manager and scheduler as the
other masters have them (its clients' server is its own apiserver), and an SSH forwarder of its
own on the host's loopback (the lab's, started with the lab, has no port for it). Returns once
its apiserver's /readyz is ok.

:func:`remove_master`: its etcd member removed first (on another master), then its apiserver
stopped the graceful way (its endpoint lease given back, the ``default/kubernetes`` Endpoints
drop it), then the node taken away like :func:`wizard.lab.lab.remove_node`.

A lab whose masters changed is not reused by the next ``lab up`` (its nodes differ from the
plan): the next module gets a fresh one.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from wizard.lab import control_plane as cp
from wizard.lab import lab, network, node, pki
from wizard.lab.constants import (
    FORWARDER_LOG,
    KNOWN_HOSTS_FILE,
    LAB_DIR,
    SSH_HOST,
    address6,
    max_of,
    node_address,
    node_name,
    ssh_port,
)
from wizard.lab.errors import LabError
from wizard.lab.forwarder_spawn import spawn_forwarder, stop_stale_forwarders
from wizard.lab.lock import lab_lock
from wizard.lab.state import LabState, NodeState, read_state, save_state
from wizard.lab.system import alive, require_root
from wizard.netaddr import https_url

Log = Callable[[str], None]

ETCDCTL = [
    cp.ETCDCTL_IN_NODE,
    "--endpoints=https://127.0.0.1:2379",
    f"--cacert={cp.SSL_DIR}/ca.pem",
    f"--cert={cp.SSL_DIR}/etcd.pem",
    f"--key={cp.SSL_DIR}/etcd-key.pem",
    "--command-timeout=20s",
]
READY_TIMEOUT = 300.0  # boot, etcd's catch-up and the apiserver's start on a loaded machine


def _real_lab() -> LabState:
    state = read_state()
    if state is None or not state.ready:
        raise LabError("no lab is up: run `kubeha lab up --control-plane real` first")
    if state.control_plane != cp.REAL:
        raise LabError("masters are added only to the real control plane (`--control-plane real`)")
    return state


def _masters(state: LabState) -> list[NodeState]:
    return [n for n in state.nodes if n.role == "master"]


def _etcdctl(state: LabState, on: str, *args: str, timeout: float = 60) -> str:
    proc = lab.exec_in_node(on, [*ETCDCTL, *args], state=state, timeout=timeout)
    if proc.returncode != 0:
        raise LabError(f"etcdctl {' '.join(args)} on {on}: {(proc.stderr or proc.stdout)[-400:]}")
    return proc.stdout


def _member_ids(state: LabState, on: str) -> dict[str, str]:
    """etcd's members by name: their hex ids (``member list``: id, status, name, ...)."""
    found = {}
    for line in _etcdctl(state, on, "member", "list").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) >= 3:
            found[cells[2]] = cells[0]
    return found


def leads(status_json: str) -> bool:
    """Whether the member whose own endpoint answered ``etcdctl endpoint status -w json`` is
    the cluster's leader (its status names itself as the leader)."""
    try:
        status = json.loads(status_json)[0]["Status"]
        return bool(status["leader"]) and status["leader"] == status["header"]["member_id"]
    except (ValueError, LookupError, TypeError) as exc:
        raise LabError(f"etcdctl endpoint status: not the status expected ({exc})") from None


def _hand_over_leadership(state: LabState, name: str, to: str, ids: dict[str, str]) -> bool:
    """When ``name``'s member leads etcd, its leadership moved to ``to``'s member first, as an
    operator does before retiring a leader: the cluster hands over at once instead of electing
    one after it is gone. Whether it was moved."""
    if not leads(_etcdctl(state, name, "endpoint", "status", "-w", "json")):
        return False
    _etcdctl(state, name, "move-leader", ids[to])
    return True


def _wait(what: str, seconds: float, check: Callable[[], str | None]) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while True:
        said = check()
        if said is None:
            return
        last = said
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not within {seconds:.0f} s ({last})")
        time.sleep(0.5)


def free_master_indexes(used: list[int], first: int, most: int) -> list[int]:
    """The indexes a new master may take: after every master's and after the lab's ``first``
    masters (m5 after m2, m3, m4; m4 after m1, m2 once m3 went). A removed master's name and
    SSH port are not given to a new one: the lab's own forwarder keeps the first masters'
    ports, and a known_hosts line or a client may still name an old one."""
    return list(range(max([*used, first]) + 1, most + 1))


def add_master(log: Log = lab._quiet) -> NodeState:
    """Add the next master (m4, m5, ...: after the highest there) to the running real lab;
    its record once its apiserver answers /readyz ok."""
    require_root()
    with lab_lock():
        state = _real_lab()
        used = [int(n.name[1:]) for n in state.nodes if n.role == "master" and n.name[1:].isdigit()]
        free = free_master_indexes(used, state.masters, max_of("master"))
        if not free:
            raise LabError(f"the lab has {max_of('master')} masters already")
        running = _masters(state)
        if not running:
            raise LabError("the lab has no master left to add one beside")
        via = running[0]
        address = node_address("master", free[0])
        spec = node.NodeSpec(
            node_name("master", free[0]), "master", address, address6(address) if state.ipv6 else ""
        )
        specs = [node.NodeSpec(n.name, n.role, n.address, n.address6) for n in state.nodes]
        specs.append(spec)
        log(f"adding master {spec.name} ({address}): etcd member add on {via.name}")
        peer = https_url(address, 2380)
        said = _etcdctl(state, via.name, "member", "add", spec.name, f"--peer-urls={peer}")
        found = re.search(r'ETCD_INITIAL_CLUSTER="([^"]+)"', said)
        if not found:
            raise LabError(f"etcdctl member add on {via.name} said no initial cluster: {said}")
        members = [m.split("=", 1) for m in found.group(1).split(",") if "=" in m]
        # its own apiserver first: the clients' server (controller-manager, scheduler, kubectl)
        own = (spec.name, address)
        others = [(n, urlhost(u)) for n, u in members if n != spec.name]
        netns = network.create_node_net(spec.name, spec.address, spec.address6)
        n = lab._node_state(spec, netns)
        state.nodes.append(n)
        save_state(state)
        merged = node.mount_overlay(spec.name, Path(state.rootfs))
        host_key, host_pub = pki.ensure_host_key(spec.name)
        node.write_node_files(merged, spec, specs, pki.public_key(), host_key, None)
        ssl = Path(via.merged) / cp.SSL_DIR.lstrip("/")
        cluster = dataclasses.replace(
            cp.issue_cluster_pki(),
            sa_key=(ssl / "sa.key").read_text(),
            sa_pub=(ssl / "sa.pub").read_text(),
        )
        cp.write_node_files(
            merged,
            spec.name,
            "master",
            address,
            [own, *others],
            cluster,
            state.hardened,
            spec.address6,
            etcd_state="existing",
        )
        stop_stale_forwarders(state)  # one left holding its port
        n.forwarder_pid, n.forwarder_started = spawn_forwarder(
            SSH_HOST,
            [f"{ssh_port(address)}={address}:22"],
            LAB_DIR / f"forwarder-{spec.name}.ready",
            FORWARDER_LOG,
            f"the SSH forwarder of {spec.name}",
        )
        save_state(state)
        _known_host(n.ssh_port, host_pub)
        n.nspawn_pid, n.nspawn_started = node.start_container(
            spec.name, merged, netns, cp.binds(Path(state.kube_bin)), writable_net_sysctls=True
        )
        save_state(state)
        n.init_pid, n.init_started = node.find_init(n.nspawn_pid, n.nspawn_started)
        save_state(state)

        def ready() -> str | None:
            if not alive(n.nspawn_pid, n.nspawn_started):
                raise LabError(f"{spec.name} stopped while booting: {node.console_tail(spec.name)}")
            reason = lab._node_not_ready(state, n)
            if reason is not None:
                return reason
            proc = lab.exec_in_node(
                spec.name, ["kubectl", "get", "--raw", "/readyz"], state=state, timeout=30
            )
            return None if proc.stdout.strip() == "ok" else (proc.stderr or proc.stdout)[-200:]

        _wait(f"{spec.name}'s apiserver /readyz", READY_TIMEOUT, ready)
        log(f"{spec.name} is up: etcd member, kube-apiserver /readyz ok")
        return n


def _known_host(port: int, pub: str) -> None:
    """The new node's host key in the lab's known_hosts, beside what is there (a line for the
    same port, left by an earlier node of that name, replaced)."""
    name = f"[{SSH_HOST}]:{port}"
    lines = []
    if KNOWN_HOSTS_FILE.exists():
        lines = [
            x for x in KNOWN_HOSTS_FILE.read_text().splitlines(True) if x.split(" ")[0] != name
        ]
    keytype, key = pub.split()[:2]
    lines.append(f"{name} {keytype} {key}\n")
    tmp = KNOWN_HOSTS_FILE.with_name(f".{KNOWN_HOSTS_FILE.name}.tmp")
    tmp.write_text("".join(lines))
    tmp.chmod(0o644)
    tmp.replace(KNOWN_HOSTS_FILE)


def urlhost(url: str) -> str:
    """``10.77.0.11`` of ``https://10.77.0.11:2380`` (``[fd77::11]`` unbracketed)."""
    host = url.split("://", 1)[-1].rsplit(":", 1)[0]
    return host.strip("[]")


def remove_master(name: str, log: Log = lab._quiet) -> None:
    """Take master ``name`` out of the running real lab as an operator retires one: its
    apiserver stopped gracefully first (/readyz fails, its lease is given back, the Endpoints
    drop it, the balancers drain it while it still answers), then its etcd member: its
    leadership moved to the newest master's member if it led, stopped gracefully, removed (on
    another master); then its node taken away. (With the etcd member removed first, its
    apiserver lost its store while requests still came to it.)"""
    require_root()
    with lab_lock():
        state = _real_lab()
        n = state.node(name)
        if n.role != "master":
            raise LabError(f"{name} is not a master")
        others = [m for m in _masters(state) if m.name != name]
        if not others:
            raise LabError(f"{name} is the lab's last master: add one first")
        log(f"stopping {name}'s apiserver gracefully")
        lab.exec_in_node(
            name,
            ["systemctl", "stop", cp.APISERVER_UNIT],
            state=state,
            timeout=cp.SHUTDOWN_DELAY_S + 90,
        )
        ids = _member_ids(state, others[0].name)
        if name in ids:
            heir = others[-1].name  # the newest master: the one that stays longest
            if _hand_over_leadership(state, name, heir, ids):
                log(f"{name}'s etcd member led: leadership moved to {heir}'s")
            # Every apiserver sends its etcd requests round robin over the members it names:
            # a member that stops by itself at its removal fails the requests it was serving
            # (HTTP 500 from apiservers on every node); stopped gracefully, it finishes them
            # and the clients' other members take the next ones.
            log(f"stopping {name}'s etcd member gracefully")
            lab.exec_in_node(
                name, ["systemctl", "stop", cp.ETCD_UNIT], state=state, timeout=90, check=True
            )
            log(f"removing {name}'s etcd member ({ids[name]}) on {others[0].name}")
            _etcdctl(state, others[0].name, "member", "remove", ids[name])
        lab.take_away(state, n)
        log(f"master {name} removed from the lab")
