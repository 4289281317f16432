"""Bring the lab up and down, and the faults: kill an apiserver, cut a node, restore it.

:func:`up` is idempotent (the same lab already up and healthy is reused), cleans the leftovers
of a crashed lab first, and tears down whatever it made if it fails half way. :func:`down`
removes every namespace, mount, process and interface the lab made, and returns only once they
are gone (a process counts until it has left /proc, zombie included), or fails naming them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from wizard.lab import bastion, host_limits, network, node, pki, qemu
from wizard.lab import control_plane as cp
from wizard.lab.constants import (
    APISERVER_SERVICE,
    BOOT_TIMEOUT,
    BRIDGE_NETNS,
    CA_CERT_FILE,
    FORWARDER_LOG,
    GONE_TIMEOUT,
    KNOWN_HOSTS_FILE,
    LAB_DIR,
    REAL_BOOT_TIMEOUT,
    SSH_HOST,
    SSH_KEY_FILE,
    STOP_TIMEOUT,
    address6,
    max_of,
    node_address,
    node_name,
    ssh_port,
)
from wizard.lab.errors import LabError
from wizard.lab.forwarder_spawn import spawn_forwarder, stop_stale_forwarders
from wizard.lab.hostpkgs import ensure_host_packages
from wizard.lab.lock import lab_lock
from wizard.lab.rootfs import ensure_rootfs, rootfs_path
from wizard.lab.state import LabState, NodeState, clear_state, read_state, save_state
from wizard.lab.system import (
    Proc,
    alive,
    process_tree,
    require_root,
    run,
    stop_process,
    wait_gone,
)

Log = Callable[[str], None]
# kubelet restarts a killed static pod after its crash back-off (10 s doubling to 5 min, reset
# after 10 min without a crash). restore() restarts kubelet when the apiserver is not serving
# within BACK_OFF_GRACE_S: the back-off lives in kubelet's memory, a restarted kubelet starts
# the container at once and the running pods are left alone (measured on the lab: a fourth kill
# in 3 min served again after 53 s by itself, after 11 s with kubelet restarted). The apiserver
# then needs its start (seconds to tens of seconds on a loaded 2-core machine).
KUBEADM_RESTORE_TIMEOUT = 360.0
BACK_OFF_GRACE_S = 3.0


def _quiet(_: str) -> None:
    pass


@dataclass
class Lab:
    """A running lab: its nodes and the handles tests and the engine use on them."""

    state: LabState

    @property
    def nodes(self) -> list[NodeState]:
        return list(self.state.nodes)

    @property
    def masters(self) -> list[NodeState]:
        return [n for n in self.state.nodes if n.role == "master"]

    @property
    def workers(self) -> list[NodeState]:
        return [n for n in self.state.nodes if n.role == "worker"]

    @property
    def lb_nodes(self) -> list[NodeState]:
        return [n for n in self.state.nodes if n.role == "lb"]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.state.shape

    ca_cert: Path = CA_CERT_FILE
    ssh_key_file: Path = SSH_KEY_FILE
    known_hosts: Path = KNOWN_HOSTS_FILE

    def node(self, name: str) -> NodeState:
        return self.state.node(name)

    def exec_in_node(
        self, name: str, argv: Sequence[str], *, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node (all its namespaces); output captured as text."""
        return exec_in_node(name, argv, timeout=timeout, check=check, state=self.state)

    def kill_apiserver(self, name: str) -> None:
        kill_apiserver(name)

    def drain(self, name: str) -> None:
        drain(name)

    def cut(self, name: str) -> None:
        cut(name)

    def restore(self, name: str) -> None:
        restore(name)

    def is_cut(self, name: str) -> bool:
        return bool(network.is_cut(name))

    def down(self, log: Log = _quiet) -> None:
        down(log)

    def healthy(self) -> bool:
        return is_healthy(self.state)

    def refresh(self) -> Lab:
        """Re-read the lab's record (after it was brought down and up again elsewhere)."""
        state = read_state()
        if state is None:
            raise LabError("no lab is up: run `kubeha lab up` first")
        self.state = state
        return self


# --- queries ---------------------------------------------------------------------------------


def load_state() -> LabState | None:
    """The recorded lab (up, or left over by a crash), or None."""
    return read_state()


def current() -> Lab | None:
    """The lab if one is up and healthy, else None."""
    state = read_state()
    if state is not None and is_healthy(state):
        return Lab(state)
    return None


def is_healthy(state: LabState) -> bool:
    """Every recorded process alive, every namespace present, the lab finished booting."""
    if not state.ready or not alive(state.forwarder_pid, state.forwarder_started):
        return False
    if not network.netns_exists(state.bridge_netns):
        return False
    for n in state.nodes:
        if not alive(n.nspawn_pid, n.nspawn_started) or not alive(n.init_pid, n.init_started):
            return False
        if not network.netns_exists(n.netns) or not node.is_mounted(Path(n.merged)):
            return False
    return True


def exec_in_node(
    name: str,
    argv: Sequence[str],
    *,
    timeout: float = 60,
    check: bool = False,
    state: LabState | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside node ``name`` via nsenter into its container's init."""
    state = state or read_state()
    if state is None:
        raise LabError("no lab is up: run `kubeha lab up` first")
    n = state.node(name)
    if not alive(n.init_pid, n.init_started):
        raise LabError(f"node {name} is not running")
    assert n.init_pid is not None
    return run(node.exec_argv(n.init_pid, list(argv)), check=check, timeout=timeout)


# --- up --------------------------------------------------------------------------------------


def plan(masters: int, workers: int, lb_nodes: int, ipv6: bool = False) -> list[node.NodeSpec]:
    """The nodes of a lab of this shape."""
    if masters < 1:
        raise LabError("a lab needs at least one master")
    for role, label, count in (
        ("master", "masters", masters),
        ("worker", "workers", workers),
        ("lb", "LB nodes", lb_nodes),
    ):
        if not 0 <= count <= max_of(role):
            raise LabError(f"a lab has 0 to {max_of(role)} {label}, not {count}")
    specs = []
    for role, count in (("master", masters), ("worker", workers), ("lb", lb_nodes)):
        for i in range(1, count + 1):
            address = node_address(role, i)
            specs.append(
                node.NodeSpec(node_name(role, i), role, address, address6(address) if ipv6 else "")
            )
    return specs


def up(
    masters: int = 3,
    workers: int = 2,
    lb_nodes: int = 0,
    *,
    log: Log = print,
    replace: bool = False,
    control_plane: str = cp.STAND_IN,
    hardened: bool = False,
    ipv6: bool = False,
) -> Lab:
    """Bring up a lab of this shape (or reuse the same one already up) and return it.

    ``control_plane``: ``stand-in`` (a small Python apiserver per master, for the fast tests)
    or ``real`` (etcd, kube-apiserver, controller-manager, scheduler, kube-proxy: see
    :mod:`wizard.lab.control_plane`; a fresh machine builds Kubernetes first, 15-25 min).
    ``ipv6``: dual stack, every node with an IPv6 address too (fd77::/64)."""
    require_root()
    specs = plan(masters, workers, lb_nodes, ipv6)
    shape = (masters, workers, lb_nodes)
    if control_plane not in cp.CONTROL_PLANES:
        raise LabError(
            f"control plane {control_plane!r}: expected one of {', '.join(cp.CONTROL_PLANES)}"
        )
    if hardened and control_plane != cp.REAL:
        raise LabError("--hardened: only the real control plane has anonymous auth to turn off")
    kube_bin = kubeadm_bin = kubeadm_layer = ""
    if control_plane in (cp.REAL, cp.KUBEADM):  # before the lab lock: a fresh machine builds
        from wizard.lab import kube_build  # imported here: `python -m` runs it as a script

        kube_bin = str(kube_build.ensure_kube(log).bin_dir)
    if control_plane == cp.KUBEADM:
        from wizard.lab import balancer_images, kube_build, kubeadm_lab

        kubeadm_bin = str(kube_build.ensure_node_binaries(log).bin_dir)
        ensure_host_packages(log)
        kubeadm_layer = str(
            kubeadm_lab.ensure_layer(ensure_rootfs(log), Path(kube_bin), Path(kubeadm_bin), log)
        )
        balancer_images.ensure(ensure_rootfs(log), log)  # static-pod balancers (no registry)
    with lab_lock():
        existing = read_state()
        if existing is not None:
            if is_healthy(existing):
                current_tree = existing.rootfs == str(rootfs_path())
                same_plane = (
                    existing.control_plane == control_plane and existing.hardened == hardened
                )
                # A dual-stack lab serves an IPv4-only request too (its IPv4 side is the same).
                same_plane = same_plane and (existing.ipv6 or not ipv6)
                # a lab whose masters were added or removed (wizard.lab.masters) is not reused
                same_nodes = sorted(n.name for n in existing.nodes) == sorted(s.name for s in specs)
                if existing.shape == shape and current_tree and same_plane and same_nodes:
                    log("the lab is already up with this shape; reusing it")
                    return Lab(existing)
                if not current_tree:
                    log("the lab that is up runs on an older rootfs recipe: replacing it")
                elif existing.shape == shape and same_plane and not same_nodes:
                    log("the lab that is up had masters added or removed: replacing it")
                elif not replace:
                    m, w, lb = existing.shape
                    stack = "dual-stack" if existing.ipv6 else "IPv4"
                    raise LabError(
                        f"a different lab is up ({m} masters, {w} workers, {lb} LB nodes, "
                        f"{existing.control_plane} control plane, {stack}): "
                        "run `kubeha lab down` first"
                    )
                else:
                    log("replacing the lab that is up (a different shape or control plane)")
            else:
                log("cleaning up the leftovers of a lab that is not healthy")
            _teardown(existing, log)
        _clean_orphans(log)
        _check_ports_free(specs)
        ensure_host_packages(log)
        rootfs = ensure_rootfs(log)
        started = time.monotonic()
        state = LabState(
            masters=masters,
            workers=workers,
            lb_nodes=lb_nodes,
            rootfs=str(rootfs),
            bridge_netns=BRIDGE_NETNS,
            control_plane=control_plane,
            kube_bin=kube_bin,
            hardened=hardened,
            ipv6=ipv6,
            kubeadm_bin=kubeadm_bin,
            kubeadm_layer=kubeadm_layer,
        )
        try:
            _build(state, specs, rootfs, log)
        except BaseException:
            log("lab up failed: removing what it made")
            _teardown(state, log)
            raise
        plane = " (real control plane: m1's /readyz answers)" if kube_bin else ""
        if kubeadm_layer:
            plane = " (kubeadm: every node joined, kube-proxy Ready on each)"
        log(f"lab up: {len(specs)} nodes ready in {time.monotonic() - started:.1f} s{plane}")
        return Lab(state)


def _build(state: LabState, specs: list[node.NodeSpec], rootfs: Path, log: Log) -> None:
    pki.ensure_ssh_key()
    pki.ensure_ca()
    host_keys = {s.name: pki.ensure_host_key(s.name) for s in specs}
    pki.write_known_hosts((SSH_HOST, ssh_port(s.address), host_keys[s.name][1]) for s in specs)
    master_addresses = [
        a for s in specs if s.role == "master" for a in (s.address, s.address6) if a
    ]
    real = state.control_plane == cp.REAL
    kubeadm = state.control_plane == cp.KUBEADM
    if kubeadm:
        from wizard.lab import kubeadm_lab

        lab_secrets = kubeadm_lab.Secrets()
        first_master = next(s.address for s in specs if s.role == "master")
        version = (Path(state.kube_bin).parent / "VERSION").read_text().strip()
        layer = Path(state.kubeadm_layer)
    if real:
        cluster = cp.issue_cluster_pki()
        masters = [(s.name, s.address) for s in specs if s.role == "master"]
        debs = cp.ensure_node_debs() if any(s.role == "worker" for s in specs) else []
        binds = cp.binds(Path(state.kube_bin))

    save_state(state)
    host_limits.restore(log)  # a lab replaced by a smaller one gives the host its value back
    host_limits.raise_for(len(specs), log)
    network.create_bridge(state.ipv6)
    _start_forwarder(state, specs)
    save_state(state)

    for spec in specs:
        netns = network.create_node_net(spec.name, spec.address, spec.address6)
        if kubeadm:
            _kubeadm_net(netns, spec, specs)
        n = _node_state(spec, netns)
        state.nodes.append(n)
        save_state(state)
        merged = node.mount_overlay(spec.name, rootfs, [layer / "layer"] if kubeadm else None)
        stand_in = spec.role == "master" and not real and not kubeadm
        cert = pki.issue_apiserver_cert(spec.name, master_addresses) if stand_in else None
        node.write_node_files(merged, spec, specs, pki.public_key(), host_keys[spec.name][0], cert)
        if real:
            cp.write_node_files(
                merged,
                spec.name,
                spec.role,
                spec.address,
                masters,
                cluster,
                state.hardened,
                spec.address6,
            )
            if spec.role == "worker":
                cp.install_node_debs(merged, debs)
        if kubeadm:
            kubeadm_lab.write_node_files(
                merged, spec.name, spec.role, spec.address, first_master, lab_secrets, version
            )
            n.nspawn_pid, n.nspawn_started = _start_kubeadm_node(state, spec.name, merged, netns)
        else:
            n.nspawn_pid, n.nspawn_started = node.start_container(
                spec.name, merged, netns, binds if real else None, writable_net_sysctls=real
            )
        save_state(state)
    log(f"booting {len(specs)} nodes")
    for n in state.nodes:
        assert n.nspawn_pid is not None and n.nspawn_started is not None
        n.init_pid, n.init_started = node.find_init(n.nspawn_pid, n.nspawn_started)
    save_state(state)
    _wait_ready(state)
    if real:
        _wait_real_ready(state)
    if kubeadm:
        log("kubeadm: images into containerd, init on the first master, joins")
        kubeadm_lab.bring_up(
            [(n.name, n.role, n.address) for n in state.nodes],
            lambda name, argv, timeout=60: exec_in_node(name, argv, timeout=timeout, state=state),
            lambda name, argv: _start_in_node(state, name, argv),
            lab_secrets,
            log,
        )
    state.ready = True
    save_state(state)


def _kubeadm_net(netns: str, spec: node.NodeSpec, specs: list[node.NodeSpec]) -> None:
    """kubeadm's preflight wants forwarding; pods reach other nodes' pods."""
    from wizard.lab import kubeadm_lab

    run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for other in specs:
        if other.name != spec.name:
            subnet = kubeadm_lab.pod_subnet(other.address)
            run(["ip", "-n", netns, "route", "add", subnet, "via", other.address])
    # No default route in the lab: the Service range gets one of its own on the bridge,
    # so a node's own connection to a Service IP reaches kube-proxy's DNAT rules.
    run(["ip", "-n", netns, "route", "add", kubeadm_lab.SERVICE_SUBNET, "dev", "eth0"])


def _node_state(spec: node.NodeSpec, netns: str) -> NodeState:
    """A new node's record: its addresses, its SSH port on the host, its namespace, its root."""
    return NodeState(
        name=spec.name,
        role=spec.role,
        address=spec.address,
        address6=spec.address6,
        ssh_host=SSH_HOST,
        ssh_port=ssh_port(spec.address),
        netns=netns,
        merged=str(node.merged_dir(spec.name)),
    )


def _start_kubeadm_node(state: LabState, name: str, merged: Path, netns: str) -> tuple[int, int]:
    """A kubeadm node's nspawn: the cached binaries and images, its own containerd folder and
    cgroups."""
    from wizard.lab import balancer_images, kubeadm_lab

    containerd = node.node_dir(name) / "containerd"
    containerd.mkdir(exist_ok=True)
    binds = [
        (state.kube_bin, kubeadm_lab.KUBE_BIN_IN_NODE),
        (state.kubeadm_bin, kubeadm_lab.NODE_BIN_IN_NODE),
        (str(Path(state.kubeadm_layer) / "images"), kubeadm_lab.IMAGES_IN_NODE),
        # the static-pod balancers' images (haproxy, nginx, keepalived; no registry)
        (str(balancer_images.path_for(Path(state.rootfs))), balancer_images.IMAGES_IN_NODE),
    ]
    return node.start_container(
        name,
        merged,
        netns,
        binds,
        writable_net_sysctls=True,
        extra_args=[
            *kubeadm_lab.nspawn_args(),
            f"--bind={containerd}:{kubeadm_lab.CONTAINERD_IN_NODE}",
        ],
    )


# --- a node added to the kubeadm lab after it is up --------------------------------------------


def add_node(log: Log = _quiet) -> NodeState:
    """A worker added to the kubeadm lab that is up (the next free name: w3 beside w1 and w2),
    booted with kubelet, containerd and the worker images, joined to nothing: the caller joins
    it (its own ``kubeadm join``). It is on the bridge and in the lab's record (``down``
    removes it), but the SSH forwarder, started with the lab, has no port for it: reach it with
    :func:`exec_in_node`. :func:`remove_node` takes it away again."""
    require_root()
    from wizard.lab import kubeadm_lab

    with lab_lock():
        state = read_state()
        if state is None or not state.ready:
            raise LabError("no lab is up: run `kubeha lab up --control-plane kubeadm` first")
        if state.control_plane != cp.KUBEADM:
            raise LabError("add-node: only the kubeadm lab (`--control-plane kubeadm`) adds nodes")
        taken = {n.name for n in state.nodes}
        free = [i for i in range(1, max_of("worker") + 1) if node_name("worker", i) not in taken]
        if not free:
            raise LabError(f"the lab has {max_of('worker')} workers already")
        address = node_address("worker", free[0])
        spec = node.NodeSpec(
            node_name("worker", free[0]), "worker", address, address6(address) if state.ipv6 else ""
        )
        specs = [node.NodeSpec(n.name, n.role, n.address, n.address6) for n in state.nodes] + [spec]
        log(f"adding {spec.name} ({spec.address}) to the kubeadm lab")
        netns = network.create_node_net(spec.name, spec.address, spec.address6)
        n = _node_state(spec, netns)
        state.nodes.append(n)
        save_state(state)
        _kubeadm_net(netns, spec, specs)
        merged = node.mount_overlay(
            spec.name, Path(state.rootfs), [Path(state.kubeadm_layer) / "layer"]
        )
        host_key = pki.ensure_host_key(spec.name)[0]
        node.write_node_files(merged, spec, specs, pki.public_key(), host_key, None)
        first_master = next(m.address for m in state.nodes if m.role == "master")
        version = (Path(state.kube_bin).parent / "VERSION").read_text().strip()
        kubeadm_lab.write_node_files(
            merged, spec.name, "worker", spec.address, first_master, kubeadm_lab.Secrets(), version
        )
        n.nspawn_pid, n.nspawn_started = _start_kubeadm_node(state, spec.name, merged, netns)
        save_state(state)
        n.init_pid, n.init_started = node.find_init(n.nspawn_pid, n.nspawn_started)
        save_state(state)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            proc = exec_in_node(n.name, ["systemctl", "is-system-running"], state=state, timeout=15)
            if proc.stdout.strip() in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise LabError(f"{n.name} did not boot: {node.console_tail(n.name)}")
            time.sleep(0.2)
        kubeadm_lab.import_images(
            n.name,
            lambda name, argv, timeout=60: exec_in_node(name, argv, timeout=timeout, state=state),
        )
        log(f"{n.name} booted, its images in containerd")
        return n


def remove_node(name: str, log: Log = _quiet) -> None:
    """Take away a node :func:`add_node` added: its container stopped, its namespace, overlay,
    cgroups and record removed (the cluster's Node object is the caller's)."""
    require_root()
    with lab_lock():
        state = read_state()
        if state is None:
            raise LabError("no lab is up")
        n = state.node(name)
        index = int(name[1:]) if name[1:].isdigit() else 0
        if n.role != "worker" or index <= state.workers:
            raise LabError(f"{name} is one of the lab's own nodes: only an added node is removed")
        take_away(state, n)
        log(f"{name} removed from the lab")


def take_away(state: LabState, n: NodeState) -> None:
    """Stop one node (its container, its own forwarder), remove its namespace, overlay,
    cgroups and record; raise naming what is still there."""
    name = n.name
    procs = process_tree(n.nspawn_pid, n.nspawn_started, f"systemd-nspawn of {name}")
    procs += process_tree(n.init_pid, n.init_started, f"the init of {name}")
    procs += process_tree(n.forwarder_pid, n.forwarder_started, f"the forwarder of {name}")
    if alive(n.nspawn_pid, n.nspawn_started):
        assert n.nspawn_pid is not None
        with suppress(ProcessLookupError):
            os.kill(n.nspawn_pid, signal.SIGTERM)
    stop_process(n.nspawn_pid, n.nspawn_started, 0, STOP_TIMEOUT)
    stop_process(n.init_pid, n.init_started, signal.SIGKILL, 5)
    stop_process(n.forwarder_pid, n.forwarder_started, signal.SIGTERM, 5)
    for proc in wait_gone(procs, 5):
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    left = [p.describe() for p in wait_gone(procs, GONE_TIMEOUT)]
    node.unmount(name)
    node.remove_files(name)
    network.delete_namespace(n.netns)
    left += node.remove_cgroups(name)
    state.nodes.remove(n)
    save_state(state)
    if left:
        raise LabError(f"{name} removed, but still present: {'; '.join(left[:8])}")


def _start_in_node(state: LabState, name: str, argv: list[str]) -> subprocess.Popen[str]:
    """Start a command in a node (the kubeadm bring-up's image imports): its output piped."""
    n = state.node(name)
    assert n.init_pid is not None
    return subprocess.Popen(
        node.exec_argv(n.init_pid, list(argv)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _start_forwarder(state: LabState, specs: list[node.NodeSpec]) -> None:
    state.forwarder_pid, state.forwarder_started = spawn_forwarder(
        SSH_HOST,
        (f"{ssh_port(s.address)}={s.address}:22" for s in specs),
        LAB_DIR / "forwarder.ready",
        FORWARDER_LOG,
        "the lab's SSH forwarder",
    )


def _wait_ready(state: LabState) -> None:
    """Poll every node until systemd is up, sshd answers through the forwarder, apiserver runs."""
    pending = {n.name: n for n in state.nodes}
    timeout = REAL_BOOT_TIMEOUT if state.control_plane == cp.REAL else BOOT_TIMEOUT
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while pending:
        for name, n in list(pending.items()):
            if not alive(n.nspawn_pid, n.nspawn_started):
                raise LabError(
                    f"node {name} stopped while booting; its console:\n{node.console_tail(name)}"
                )
            reason = _node_not_ready(state, n)
            if reason is None:
                del pending[name]
            else:
                last[name] = reason
        if not pending:
            break
        if time.monotonic() > deadline:
            name = sorted(pending)[0]
            try:
                journal = exec_in_node(
                    name, ["journalctl", "--no-pager", "-n", "40"], state=state, timeout=15
                ).stdout
            except LabError as exc:
                journal = f"(no journal: {exc})\n{node.console_tail(name)}"
            raise LabError(
                f"node {name} was not ready within {timeout:.0f} s ({last.get(name)}); "
                f"its journal ends:\n{journal}"
            )
        time.sleep(0.2)


def _node_not_ready(state: LabState, n: NodeState) -> str | None:
    proc = exec_in_node(n.name, ["systemctl", "is-system-running"], state=state, timeout=15)
    status = proc.stdout.strip()
    if status not in ("running", "degraded"):
        return f"systemd is {status or 'not answering'}"
    if not _ssh_banner(n.ssh_host, n.ssh_port):
        return "sshd does not answer"
    kubeadm = state.control_plane == cp.KUBEADM  # its apiservers come with kubeadm init
    if n.role == "master" and not kubeadm and apiserver_state(n.name, state) != "active":
        return f"{apiserver_unit(state)} is not active"
    return None


def _wait_real_ready(state: LabState) -> None:
    """Until kubectl on every master gets ``ok`` from m1's /readyz (the clients' server)."""
    deadline = time.monotonic() + REAL_BOOT_TIMEOUT
    for n in [m for m in state.nodes if m.role == "master"]:
        while True:
            proc = exec_in_node(
                n.name, ["kubectl", "get", "--raw", "/readyz"], state=state, timeout=30
            )
            if proc.returncode == 0 and proc.stdout.strip() == "ok":
                break
            if time.monotonic() > deadline:
                raise LabError(
                    f"kubectl get --raw /readyz on {n.name} did not answer ok within "
                    f"{REAL_BOOT_TIMEOUT:.0f} s: {(proc.stderr or proc.stdout).strip()[-400:]}"
                )
            time.sleep(0.5)


def _ssh_banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _check_ports_free(specs: list[node.NodeSpec]) -> None:
    for spec in specs:
        port = ssh_port(spec.address)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((SSH_HOST, port))
            except OSError as exc:
                raise LabError(
                    f"port {SSH_HOST}:{port} (SSH to lab node {spec.name}) is in use: {exc}"
                ) from exc


# --- down ------------------------------------------------------------------------------------


def down(log: Log = print) -> bool:
    """Remove the lab; returns False when there was nothing to remove."""
    require_root()
    with lab_lock():
        state = read_state()
        leftovers = network.lab_namespaces() or node.lab_mounts()
        if state is None and not leftovers:
            log("no lab is up")
            return False
        if state is not None:
            _teardown(state, log)
        _clean_orphans(log)
        _require_gone([], network.lab_namespaces())
        host_limits.restore(log)
        log("lab down: nothing left running")
        return True


def _teardown(state: LabState, log: Log) -> None:
    """Stop containers and forwarder by recorded PID, unmount, delete namespaces; then wait
    until every process of the lab has left /proc and no mount or namespace of it remains."""
    qemu.remove_guests(log)  # QEMU IPVS nodes (their taps live in the bridge namespace)
    bastion.remove(log)  # the jump host extra, if a test left it up
    procs = lab_processes(state)
    running = [n for n in state.nodes if alive(n.nspawn_pid, n.nspawn_started)]
    for n in running:  # SIGTERM makes nspawn power the container off (SIGRTMIN+3 to its init)
        assert n.nspawn_pid is not None
        with suppress(ProcessLookupError):
            os.kill(n.nspawn_pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for n in running:
        stop_process(n.nspawn_pid, n.nspawn_started, 0, max(0.0, deadline - time.monotonic()))
    for n in state.nodes:  # the container's init, should nspawn have died without it
        stop_process(n.init_pid, n.init_started, signal.SIGKILL, 5)
    stop_process(state.forwarder_pid, state.forwarder_started, signal.SIGTERM, 5)
    for n in state.nodes:  # an added node's own forwarder (wizard.lab.masters)
        stop_process(n.forwarder_pid, n.forwarder_started, signal.SIGTERM, 5)
    for proc in wait_gone(procs, 5):  # anything of a container that outlived its init
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    for n in state.nodes:
        node.unmount(n.name)
        node.remove_files(n.name)
        network.delete_namespace(n.netns)
        for left in node.remove_cgroups(n.name):
            log(f"cgroup {left} could not be removed")
    network.delete_namespace(state.bridge_netns)
    _require_gone(procs, [state.bridge_netns, *(n.netns for n in state.nodes)])
    clear_state()


def lab_processes(state: LabState) -> list[Proc]:
    """Every process the lab runs now: the forwarder, each nspawn and everything below it."""
    procs = process_tree(state.forwarder_pid, state.forwarder_started, "the lab's SSH forwarder")
    for n in state.nodes:
        procs += process_tree(n.forwarder_pid, n.forwarder_started, f"the forwarder of {n.name}")
        procs += process_tree(n.nspawn_pid, n.nspawn_started, f"systemd-nspawn of {n.name}")
        procs += process_tree(n.init_pid, n.init_started, f"the init of {n.name}")
    return procs


def _require_gone(procs: list[Proc], namespaces: list[str]) -> None:
    """Wait (up to GONE_TIMEOUT) until ``procs`` have left /proc; then fail loudly, keeping the
    lab's record for another ``lab down``, if a process, a mount or a namespace remains."""
    left = [p.describe() for p in wait_gone(procs, GONE_TIMEOUT)]
    left += [f"mount {m}" for m in node.lab_mounts()]
    left += [f"network namespace {ns}" for ns in namespaces if network.netns_exists(ns)]
    if left:
        shown = "; ".join(left[:12]) + (f" and {len(left) - 12} more" if len(left) > 12 else "")
        raise LabError(
            f"lab down: still present {GONE_TIMEOUT:.0f} s after it was stopped: {shown}"
        )


def _clean_orphans(log: Log) -> None:
    """Mounts, namespaces and added nodes' forwarders named like the lab's that no record
    accounts for."""
    for pid in stop_stale_forwarders(None):
        log(f"stopped a leftover node forwarder (PID {pid})")
    bastion.remove(log)
    for mount in node.lab_mounts():
        log(f"unmounting leftover {mount}")
        run(["umount", "-l", mount], check=False)
    for ns in network.lab_namespaces():
        log(f"deleting leftover namespace {ns}")
        network.delete_namespace(ns)


# --- faults ----------------------------------------------------------------------------------


def _require_lab() -> LabState:
    require_root()
    state = read_state()
    if state is None or not state.ready:
        raise LabError("no lab is up: run `kubeha lab up` first")
    return state


def apiserver_unit(state: LabState | None) -> str:
    """The master's apiserver unit: the stand-in's, kube-apiserver.service when real, and in
    the kubeadm lab kubelet.service (its apiserver is a static pod that kubelet runs)."""
    if state is not None and state.control_plane == cp.KUBEADM:
        return "kubelet.service"
    real = state is not None and state.control_plane == cp.REAL
    return cp.APISERVER_UNIT if real else APISERVER_SERVICE


def apiserver_state(name: str, state: LabState | None = None) -> str:
    """``active``, ``failed``, ``inactive``... of the node's apiserver (stand-in or real); in
    the kubeadm lab ``active`` while a kube-apiserver process runs, else ``inactive``."""
    state = state or read_state()
    if state is not None and state.control_plane == cp.KUBEADM:
        return "active" if _static_apiserver_pids(name, state) else "inactive"
    proc = exec_in_node(name, ["systemctl", "is-active", apiserver_unit(state)], state=state)
    return proc.stdout.strip() or "unknown"


def _static_apiserver_pids(name: str, state: LabState) -> list[str]:
    """The kubeadm lab's kube-apiserver processes on the master (its static pod's container),
    as PIDs in the node's own PID namespace."""
    proc = exec_in_node(name, ["pgrep", "-x", "kube-apiserver"], state=state)
    return proc.stdout.split()


def _signal_apiserver(name: str, signal_name: str) -> LabState:
    state = _require_lab()
    if state.node(name).role != "master":
        raise LabError(f"{name} is not a master: it runs no apiserver")
    if state.control_plane == cp.KUBEADM:
        raise LabError(
            "drain does not work on the kubeadm lab (its apiserver is a static pod that kubelet "
            "runs: a graceful stop is kubelet's, through the manifest); kill-apiserver, cut and "
            "restore do"
        )
    # The main PID, signalled with kill(1): `systemctl kill` fails inside nspawn on some hosts.
    main_pid = exec_in_node(
        name,
        ["systemctl", "show", "--property=MainPID", "--value", apiserver_unit(state)],
        state=state,
        check=True,
    ).stdout.strip()
    if main_pid not in ("", "0"):
        exec_in_node(name, ["kill", f"-{signal_name}", main_pid], state=state, check=False)
    return state


def drain(name: str) -> None:
    """Stop the master's apiserver gracefully, as an upgrade does (SIGTERM): /readyz fails at
    once while requests are still served for its shutdown delay (6 s), then the listener
    closes and its watch streams end. Returns at once; the drain goes on in the node."""
    _signal_apiserver(name, "TERM")


def kill_apiserver(name: str) -> None:
    """SIGKILL the master's apiserver: clients now get connection refused (RST). The stand-in's
    and the real lab's stay dead until :func:`restore`. The kubeadm lab's is a static pod: the
    kill is a crash, and kubelet starts the container again by itself (at once after a first
    crash, after its back-off of 10 s, 20 s... after the next ones; :func:`restore` ends the
    back-off); returns once the killed process is gone."""
    state = _require_lab()
    if state.control_plane != cp.KUBEADM:
        state = _signal_apiserver(name, "KILL")
        deadline = time.monotonic() + 10
        while apiserver_state(name, state) == "active":
            if time.monotonic() > deadline:
                raise LabError(f"the apiserver on {name} did not die")
            time.sleep(0.05)
        return
    if state.node(name).role != "master":
        raise LabError(f"{name} is not a master: it runs no apiserver")
    pids = _static_apiserver_pids(name, state)
    if not pids:
        raise LabError(f"no kube-apiserver runs on {name} (kubelet is restarting it?)")
    exec_in_node(name, ["kill", "-KILL", *pids], state=state, check=False)
    deadline = time.monotonic() + 10
    while set(pids) & set(_static_apiserver_pids(name, state)):  # kubelet's next one is new
        if time.monotonic() > deadline:
            raise LabError(f"the apiserver on {name} did not die")
        time.sleep(0.05)


def cut(name: str) -> None:
    """Take the node off the bridge: packets to and from it are dropped without answer."""
    state = _require_lab()
    state.node(name)
    network.set_cut(name, True)


def restore(name: str) -> None:
    """Undo cut and kill-apiserver: the node is back on the bridge, its apiserver running."""
    state = _require_lab()
    n = state.node(name)
    was_cut = bool(network.is_cut(name))
    network.set_cut(name, False)
    if n.role != "master":
        return
    if state.control_plane == cp.KUBEADM:  # kubelet restarts a killed one: wait until it serves
        if not _serving_within(name, n.address, state, BACK_OFF_GRACE_S):
            exec_in_node(name, ["systemctl", "restart", "kubelet"], state=state, check=True)
        _wait_serving(name, n.address, state, KUBEADM_RESTORE_TIMEOUT)
        return
    # A drain still under way: stop it and start afresh. A cut master's apiserver was never
    # stopped (its /readyz may fail until its etcd member is back: not a drain).
    if not was_cut and _draining(name, state):
        _signal_apiserver(name, "KILL")
        deadline = time.monotonic() + 10
        while apiserver_state(name, state) == "active" and time.monotonic() < deadline:
            time.sleep(0.05)
    unit = apiserver_unit(state)
    if apiserver_state(name, state) != "active":
        exec_in_node(name, ["systemctl", "reset-failed", unit], state=state, check=False)
        # A real apiserver is Type=notify: start returns once it serves (~10-30 s).
        exec_in_node(name, ["systemctl", "start", unit], state=state, check=True, timeout=240)
    _wait_serving(name, n.address, state, 15)


def _wait_serving(name: str, address: str, state: LabState, seconds: float) -> None:
    """Until the master's apiserver accepts connections on its address."""
    if not _serving_within(name, address, state, seconds):
        raise LabError(f"the apiserver on {name} did not come back")


def _serving_within(name: str, address: str, state: LabState, seconds: float) -> bool:
    """Does the master's apiserver accept connections on its address within ``seconds``?"""
    deadline = time.monotonic() + seconds
    probe = ["python3", "-c", f"import socket; socket.create_connection(('{address}', 6443), 1)"]
    while exec_in_node(name, probe, state=state).returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _draining(name: str, state: LabState) -> bool:
    """Is the master's apiserver in a drain (running, /readyz failing: 500 while it still
    serves, no answer once its listener closed and it waits for the requests in flight)?"""
    if apiserver_state(name, state) != "active":
        return False
    # A hardened lab's apiserver refuses an anonymous /readyz: ask with the node's certificate.
    probe = (
        f"c=; [ -f {cp.KUBELET_CLIENT_PEM} ] && c='--cert {cp.KUBELET_CLIENT_PEM}'; "
        "curl -sk $c -o /dev/null -w '%{http_code}' -m 2 https://127.0.0.1:6443/readyz"
    )
    return exec_in_node(name, ["sh", "-c", probe], state=state).stdout.strip() != "200"


# --- status ----------------------------------------------------------------------------------


def status_rows() -> list[dict[str, str]]:
    """One row per node: node, role, address, ssh, container, apiserver, cut."""
    state = read_state()
    if state is None:
        return []
    rows = []
    for n in state.nodes:
        running = alive(n.nspawn_pid, n.nspawn_started) and alive(n.init_pid, n.init_started)
        api = "-"
        if n.role == "master":
            api = apiserver_state(n.name, state) if running else "down"
        cut_flag = network.is_cut(n.name) if network.netns_exists(state.bridge_netns) else None
        rows.append(
            {
                "node": n.name,
                "role": n.role,
                "address": f"{n.address} {n.address6}".strip(),
                "ssh": f"{n.ssh_host}:{n.ssh_port}",
                "container": "running" if running else "stopped",
                "apiserver": api,
                "cut": "?" if cut_flag is None else ("cut" if cut_flag else "no"),
            }
        )
    return rows
