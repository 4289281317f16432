"""One lab node: its overlay on the cached rootfs, the files it boots with, its nspawn container.

A node is a ``systemd-nspawn --boot`` container (its own systemd, sshd, journal) whose network
is the node's namespace. Its root is an overlay (lower: the shared rootfs; upper, work and
merged under ``/var/lib/kubeha/lab/nodes/<name>/``), so nodes start in seconds and each keeps
its own changes until ``lab down``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from wizard.lab.constants import (
    APISERVER_SERVICE,
    CA_CERT_FILE,
    NODES_DIR,
)
from wizard.lab.errors import LabError
from wizard.lab.system import alive, children, run, start_time


@dataclass(frozen=True)
class NodeSpec:
    """What a node is: its name, role (master/worker/lb) and address."""

    name: str
    role: str
    address: str
    address6: str = ""  # its IPv6 address in a dual-stack lab (``lab up --ipv6``)


def node_dir(name: str) -> Path:
    return NODES_DIR / name


def merged_dir(name: str) -> Path:
    return node_dir(name) / "merged"


def is_mounted(path: Path) -> bool:
    """True when ``path`` is a mount point (per /proc/self/mountinfo)."""
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def lab_mounts() -> list[str]:
    """Mount points under the lab's nodes folder, present now."""
    prefix = str(NODES_DIR) + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def mount_overlay(name: str, rootfs: Path, layers: list[Path] | None = None) -> Path:
    """A fresh overlay for ``name`` (a previous upper layer is thrown away); ``layers``: read-only
    folders over the rootfs, topmost first (the kubeadm lab's node layer)."""
    base = node_dir(name)
    unmount(name)
    if base.exists():
        shutil.rmtree(base)
    for sub in ("upper", "work", "merged"):
        (base / sub).mkdir(parents=True)
    merged = base / "merged"
    run(
        [
            "mount",
            "-t",
            "overlay",
            f"kubeha-lab-{name}",
            "-o",
            f"lowerdir={':'.join(str(p) for p in [*(layers or []), rootfs])},"
            f"upperdir={base / 'upper'},workdir={base / 'work'}",
            str(merged),
        ]
    )
    return merged


def unmount(name: str) -> None:
    """Unmount the node's overlay (lazily if still busy) and anything mounted below it."""
    merged = merged_dir(name)
    for _ in range(5):
        if not is_mounted(merged):
            return
        if run(["umount", str(merged)], check=False).returncode != 0:
            run(["umount", "-l", str(merged)], check=False)


def remove_files(name: str) -> None:
    """Delete the node's overlay folders (after :func:`unmount`)."""
    if not is_mounted(merged_dir(name)):
        shutil.rmtree(node_dir(name), ignore_errors=True)


def write_node_files(
    root: Path,
    spec: NodeSpec,
    all_nodes: list[NodeSpec],
    authorized_key: str,
    host_key: Path,
    apiserver_cert: tuple[str, str] | None,
) -> None:
    """Files the node boots with: name, hosts, sshd key and drop-in, root's key, apiserver."""
    _write(root / "etc/hostname", f"{spec.name}\n")
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    hosts += [f"{n.address}\t{n.name}" for n in all_nodes]
    _write(root / "etc/hosts", "\n".join(hosts) + "\n")
    _write(root / "etc/resolv.conf", "# kubeha lab: no DNS, names are in /etc/hosts\n")
    _write(root / "etc/ssh/ssh_host_ed25519_key", host_key.read_text(), 0o600)
    _write(root / "etc/ssh/ssh_host_ed25519_key.pub", host_key.with_suffix(".pub").read_text())
    _write(
        root / "etc/ssh/sshd_config.d/kubeha-lab.conf",
        "# kubeha lab node\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        f"ListenAddress {spec.address}:22\n"
        "MaxStartups 100:30:200\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "UseDNS no\n",
    )
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    _write(ssh_dir / "authorized_keys", authorized_key + "\n", 0o600)
    _write(root / "etc/kubeha-lab/ca.crt", CA_CERT_FILE.read_text())
    _write(root / "etc/kubeha-lab/role", f"{spec.role}\n")
    if apiserver_cert is not None:
        key, cert = apiserver_cert
        _write(root / "etc/kubeha-lab/apiserver.key", key, 0o600)
        _write(root / "etc/kubeha-lab/apiserver.crt", cert)
        assets = resources.files("wizard.lab") / "assets"
        _write(
            root / "usr/local/lib/kubeha-lab/apiserver.py", (assets / "apiserver.py").read_text()
        )
        _write(
            root / "etc/systemd/system" / APISERVER_SERVICE,
            (assets / "kube-apiserver-lab.service").read_text(),
        )
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / APISERVER_SERVICE
        if not link.is_symlink():
            link.symlink_to(f"/etc/systemd/system/{APISERVER_SERVICE}")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # never write through a symlink the rootfs left there
    path.write_text(text)
    os.chmod(path, mode)


def start_container(
    name: str,
    merged: Path,
    netns: str,
    binds: list[tuple[str, str]] | None = None,
    writable_net_sysctls: bool = False,
    extra_args: list[str] | None = None,
) -> tuple[int, int]:
    """Start the node's nspawn container detached; returns (pid, start time). ``binds``: host
    paths mounted read-only into the node (source, target). ``writable_net_sysctls``:
    /proc/sys/net writable inside (the node's own network namespace; kube-proxy sets some).
    ``extra_args``: more nspawn flags. The container gets a cgroup of its own in every
    hierarchy (nspawn without machined leaves it in the caller's, shared by every node:
    two kubelets would manage the same /kubepods, and every node's systemd the same
    payload/system.slice/<unit> folder: the same unit started on several nodes at once failed
    on some with 219/CGROUP, "Failed to kill control group ... Input/output error").
    :func:`remove_cgroups` takes them away with the node."""
    log = open(node_dir(name) / "console.log", "ab")  # noqa: SIM115 - handed to the child
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--machine={name}",
        f"--hostname={name}",
        f"--directory={merged}",
        f"--network-namespace-path=/run/netns/{netns}",
        "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
        "--private-users=no",
        "--console=read-only",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        *(f"--bind-ro={source}:{target}" for source, target in binds or ()),
        *(extra_args or ()),
    ]
    procs_files = make_cgroups(name)

    def join_cgroups() -> None:  # in the child, before exec: nspawn starts in the node's own
        for procs in procs_files:
            with open(procs, "w") as f:
                f.write("0")

    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=join_cgroups,
            env={**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
            if writable_net_sysctls
            else None,
        )
    finally:
        log.close()
    started = start_time(proc.pid)
    if started is None:
        raise LabError(
            f"systemd-nspawn for {name} exited at once; see {node_dir(name)}/console.log"
        )
    return proc.pid, started


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _hierarchies() -> list[tuple[Path, str]]:
    """(mount point, this process's cgroup in it) for each cgroup hierarchy mounted here."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mount, fstype, options = line.split()[:4]
            if not mount.startswith(str(CGROUP_ROOT)):
                continue
            if fstype == "cgroup2":
                found.append((Path(mount), own.get("", "/")))
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in own:
                        found.append((Path(mount), own[option]))
                        break
    return found


def cgroup_dirs(name: str) -> list[Path]:
    """The node's own cgroup in each hierarchy (present or not)."""
    return [mount / path.lstrip("/") / f"kubeha-lab-{name}" for mount, path in _hierarchies()]


def make_cgroups(name: str) -> list[Path]:
    """Create the node's cgroups (a cpuset one gets its parent's CPUs and memory nodes);
    returns their cgroup.procs files."""
    procs = []
    for d in cgroup_dirs(name):
        d.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (d / knob).exists() and not (d / knob).read_text().strip():
                (d / knob).write_text((d.parent / knob).read_text())
        procs.append(d / "cgroup.procs")
    return procs


def remove_cgroups(name: str, busy_s: float = 5.0) -> list[str]:
    """Remove the node's cgroups, deepest first (after its processes are gone); returns the
    folders that could not be removed. A folder still busy (a task of the node still exiting)
    is tried again for up to ``busy_s`` in all."""
    left = []
    deadline = time.monotonic() + busy_s
    for d in cgroup_dirs(name):
        if not d.is_dir():
            continue
        for sub, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
            while True:
                try:
                    os.rmdir(sub)
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        left.append(sub)
                        break
                    time.sleep(0.1)
    return left


def find_init(nspawn_pid: int, nspawn_started: int, timeout: float = 20) -> tuple[int, int]:
    """The container's init (systemd, PID 1 inside): nspawn's child running systemd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(nspawn_pid, nspawn_started):
            break
        for child in children(nspawn_pid):
            try:
                comm = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            started = start_time(child)
            if comm == "systemd" and started is not None:
                return child, started
        time.sleep(0.05)
    raise LabError(f"the container of systemd-nspawn (pid {nspawn_pid}) did not start systemd")


def exec_argv(init_pid: int, argv: list[str]) -> list[str]:
    """The host command that runs ``argv`` inside the container whose init is ``init_pid``."""
    return ["nsenter", f"--target={init_pid}", "--all", "--", *argv]


def console_tail(name: str, lines: int = 30) -> str:
    try:
        text = (node_dir(name) / "console.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
