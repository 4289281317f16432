"""The lab's jump host: one more nspawn container (``bastion``, 10.77.0.2) on the lab bridge,
reached from the host at 127.0.0.1:2202 by a forwarder of its own.

With it, a profile can address the nodes by their lab addresses (10.77.0.x), which the host's
namespace cannot route to: the bastion is then the only way in, as on a real site. It is an
extra, not part of the lab's shape: tests start it in a module-scoped fixture and stop it at the
end of the module; ``kubeha lab down`` (and a lab rebuilt after a crash) removes it too. Its
record is its own file beside the lab's, so a crashed test never leaves its processes behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wizard.lab import network, node, pki
from wizard.lab.constants import (
    BOOT_TIMEOUT,
    GONE_TIMEOUT,
    HOST_KEYS_DIR,
    LAB_DIR,
    SSH_HOST,
    SSH_KEY_FILE,
    STOP_TIMEOUT,
    node_netns,
    ssh_port,
)
from wizard.lab.errors import LabError
from wizard.lab.forwarder_spawn import spawn_forwarder
from wizard.lab.lock import lab_lock
from wizard.lab.state import LabState, read_state
from wizard.lab.system import (
    alive,
    process_tree,
    require_gone,
    require_root,
    run,
    stop_process,
)

NAME = "bastion"
ADDRESS = "10.77.0.2"
PORT = ssh_port(ADDRESS)  # 2202
RECORD = LAB_DIR / "bastion.json"
FORWARDER_LOG = LAB_DIR / "bastion-forwarder.log"


@dataclass
class BastionState:
    """What :func:`start` made, by PID and start time (so only those very processes are stopped)."""

    nspawn_pid: int | None = None
    nspawn_started: int | None = None
    init_pid: int | None = None
    init_started: int | None = None
    forwarder_pid: int | None = None
    forwarder_started: int | None = None
    ready: bool = False


@dataclass(frozen=True)
class Bastion:
    """The running jump host."""

    init_pid: int
    address: str = ADDRESS
    ssh_host: str = SSH_HOST
    ssh_port: int = PORT

    def spec(self, user: str) -> str:
        """The profile's ``ssh.bastion`` value for ``user``: ``ops@127.0.0.1:2202``."""
        return f"{user}@{self.ssh_host}:{self.ssh_port}"


def _save(state: BastionState) -> None:
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    tmp = RECORD.with_name(f".{RECORD.name}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(tmp, RECORD)


def _read() -> BastionState | None:
    try:
        return BastionState(**json.loads(RECORD.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _healthy(state: BastionState) -> bool:
    return (
        state.ready
        and alive(state.nspawn_pid, state.nspawn_started)
        and alive(state.init_pid, state.init_started)
        and alive(state.forwarder_pid, state.forwarder_started)
        and network.netns_exists(node_netns(NAME))
    )


def current() -> Bastion | None:
    """The bastion if it is up and healthy."""
    state = _read()
    if state is None or not _healthy(state) or state.init_pid is None:
        return None
    return Bastion(init_pid=state.init_pid)


def host_key_line() -> str:
    """The bastion's public host key line (``ssh-ed25519 AAAA... root@bastion``)."""
    return pki.ensure_host_key(NAME)[1]


def start(log=print) -> Bastion:
    """Start the bastion on the running lab (or return the one already up)."""
    require_root()
    lab = read_state()
    if lab is None or not lab.ready:
        raise LabError("no lab is up: run `kubeha lab up` first")
    with lab_lock():
        found = current()
        if found is not None:
            return found
        remove()  # leftovers of a bastion that is not healthy
        record = BastionState()
        _save(record)
        try:
            _build(lab, record)
        except BaseException:
            log("bastion start failed: removing what it made")
            remove()
            raise
        assert record.init_pid is not None
        return Bastion(init_pid=record.init_pid)


def _build(lab: LabState, record: BastionState) -> None:
    spec = node.NodeSpec(NAME, NAME, ADDRESS)
    all_nodes = [node.NodeSpec(n.name, n.role, n.address) for n in lab.nodes] + [spec]
    host_key, _ = pki.ensure_host_key(NAME)
    netns = network.create_node_net(NAME, ADDRESS)
    merged = node.mount_overlay(NAME, Path(lab.rootfs))
    node.write_node_files(merged, spec, all_nodes, pki.public_key(), host_key, None)
    record.nspawn_pid, record.nspawn_started = node.start_container(NAME, merged, netns)
    _save(record)
    record.init_pid, record.init_started = node.find_init(record.nspawn_pid, record.nspawn_started)
    _save(record)
    _start_forwarder(record)
    _save(record)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        proc = run(
            node.exec_argv(record.init_pid, ["systemctl", "is-system-running"]),
            check=False,
            timeout=15,
        )
        if proc.stdout.strip() in ("running", "degraded") and _banner():
            break
        if not alive(record.nspawn_pid, record.nspawn_started):
            raise LabError(f"the bastion stopped while booting:\n{node.console_tail(NAME)}")
        if time.monotonic() > deadline:
            raise LabError(f"the bastion was not ready within {BOOT_TIMEOUT:.0f} s")
        time.sleep(0.2)
    record.ready = True
    _save(record)


def _start_forwarder(record: BastionState) -> None:
    record.forwarder_pid, record.forwarder_started = spawn_forwarder(
        SSH_HOST,
        [f"{PORT}={ADDRESS}:22"],
        LAB_DIR / "bastion-forwarder.ready",
        FORWARDER_LOG,
        "the bastion's SSH forwarder",
    )


def _banner() -> bool:
    try:
        with socket.create_connection((SSH_HOST, PORT), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def stop(log=None) -> bool:
    """Stop the bastion and remove everything it made; False when there was nothing to stop."""
    require_root()
    with lab_lock():
        return remove(log)


def remove(log=None) -> bool:
    """Stop the bastion by its recorded PIDs and remove its namespace, overlay and record,
    without taking the lab lock (``lab down`` calls it while holding it)."""
    record = _read()
    leftovers = network.netns_exists(node_netns(NAME)) or node.is_mounted(node.merged_dir(NAME))
    if record is None and not leftovers:
        return False
    if log:
        log("stopping the bastion")
    if record is not None:
        procs = process_tree(record.nspawn_pid, record.nspawn_started, "the bastion's nspawn")
        procs += process_tree(record.init_pid, record.init_started, "the bastion's init")
        procs += process_tree(
            record.forwarder_pid, record.forwarder_started, "the bastion's forwarder"
        )
        if alive(record.nspawn_pid, record.nspawn_started):
            assert record.nspawn_pid is not None
            with suppress(ProcessLookupError):
                os.kill(record.nspawn_pid, signal.SIGTERM)
            stop_process(record.nspawn_pid, record.nspawn_started, 0, STOP_TIMEOUT)
        stop_process(record.init_pid, record.init_started, signal.SIGKILL, 5)
        stop_process(record.forwarder_pid, record.forwarder_started, signal.SIGTERM, 5)
        require_gone(procs, GONE_TIMEOUT, "the bastion")
    node.unmount(NAME)
    node.remove_files(NAME)
    network.delete_namespace(node_netns(NAME))
    for left in node.remove_cgroups(NAME):
        if log:
            log(f"cgroup {left} could not be removed")
    RECORD.unlink(missing_ok=True)
    return True


# --- what a profile and a known_hosts file need to go through the bastion --------------------


def node_host_key_line(name: str) -> str:
    """A lab node's public host key line, as the lab gave it (see also wizard.lab.hostkey)."""
    return (HOST_KEYS_DIR / name / "ssh_host_ed25519_key.pub").read_text().strip()


def known_hosts_text(lab: LabState, bastion: Bastion | None = None) -> str:
    """known_hosts lines for the bastion (``[127.0.0.1]:2202``) and every node by its lab
    address (``10.77.0.11``), as they are named when reached through the bastion."""
    bastion = bastion or Bastion(init_pid=0)
    lines = []
    keytype, key = host_key_line().split()[:2]
    lines.append(f"[{bastion.ssh_host}]:{bastion.ssh_port} {keytype} {key}")
    for n in lab.nodes:
        keytype, key = node_host_key_line(n.name).split()[:2]
        lines.append(f"{n.address} {keytype} {key}")
    return "\n".join(lines) + "\n"


def profile(
    lab: LabState,
    strategy: str,
    *,
    user: str,
    known_hosts: str | None,
    key_file: str | None = str(SSH_KEY_FILE),
    bastion: Bastion | None = None,
) -> dict[str, Any]:
    """The lab's profile for ``strategy`` (as a TOML-ready dict) with every node addressed by its
    lab address and reached only through the bastion, as ``user`` with sudo."""
    from wizard.lab.profiles import build_profile

    data = build_profile(lab, strategy)
    for group in ("masters", "workers", "lb_nodes"):
        for entry in data.get(group, []):
            entry.pop("ssh", None)
    bastion = bastion or Bastion(init_pid=0)
    ssh: dict[str, Any] = {"user": user, "bastion": bastion.spec(user), "sudo": True}
    if key_file:
        ssh["key_file"] = key_file
    if known_hosts:
        ssh["known_hosts"] = known_hosts
    data["ssh"] = ssh
    data["name"] = f"{data['name']}-via-bastion"
    return data
