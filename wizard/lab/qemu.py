"""QEMU IPVS nodes in the lab: ``q1``, ``q2``... at 10.77.0.41+, reached over SSH like the others.

Each guest runs Debian's stock kernel under software emulation (this host's KVM cannot boot it)
with the lab rootfs as its root disk (``snapshot=on``: its writes vanish when it stops), so it
boots systemd and sshd like an nspawn node but has a kernel with IPVS. Its only network is a tap
in the lab's bridge namespace, plugged into ``br0``: no user-mode networking, no route out.
A forwarder of its own maps ``127.0.0.1:22NN`` to the guest's sshd; its host key is recorded in
the lab's known_hosts. The guests are recorded in ``/var/lib/kubeha/lab/qemu.json`` apart from
the lab's shape, so adding them never reshapes the lab; ``remove_guests`` (and ``lab down``)
stop them by recorded PID and remove their taps, files and known_hosts lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from wizard.lab import network, node, pki, qemu_kube
from wizard.lab.constants import (
    BRIDGE_NAME,
    BRIDGE_NETNS,
    GONE_TIMEOUT,
    KNOWN_HOSTS_FILE,
    LAB_DIR,
    MAX_PER_ROLE,
    NODES_DIR,
    PREFIX_LENGTH,
    PREFIX_LENGTH6,
    QEMU_FIRST_OCTET,
    SSH_HOST,
    SSH_KEY_FILE,
    address6,
    ssh_port,
)
from wizard.lab.cpio import CpioWriter
from wizard.lab.errors import LabError
from wizard.lab.forwarder_spawn import spawn_forwarder
from wizard.lab.lock import file_lock
from wizard.lab.qemu_image import GuestImage, ensure_image
from wizard.lab.state import LabState, read_state
from wizard.lab.system import (
    alive,
    process_tree,
    require_gone,
    run,
    start_time,
    stop_process,
)

GUEST_PREFIX = "q"
GUEST_ROLE = "ipvs"
GUESTS_FILE = LAB_DIR / "qemu.json"
GUESTS_LOCK = LAB_DIR / "qemu.lock"
MEMORY_MB = 512
CPUS = int(os.environ.get("KUBEHA_QEMU_CPUS", "1"))
CPU = os.environ.get("KUBEHA_QEMU_CPU", "max")
BOOT_TIMEOUT = 300.0  # software emulation: about 15 s idle, minutes on a busy 2-core host
KERNEL_ARGS = (
    "console=ttyS0",
    "panic=-1",
    "quiet",
    "loglevel=3",
    "net.ifnames=0",
    "fsck.mode=skip",
    "systemd.show_status=1",  # unit progress in console.log, for a boot that hangs
    "tsc=reliable",
)

Log = Callable[[str], None]


@dataclass
class GuestState:
    """One QEMU node as the lab made it."""

    name: str
    address: str
    ssh_host: str
    ssh_port: int
    tap: str
    qemu_pid: int | None = None
    qemu_started: int | None = None
    forwarder_pid: int | None = None
    forwarder_started: int | None = None
    boot_seconds: float | None = None
    kube_drive: str | None = None  # a real lab's: the Kubernetes clients' disk (qemu_kube)
    address6: str = ""  # its IPv6 address in a dual-stack lab (``lab up --ipv6``)


def guest_name(index: int) -> str:
    return f"{GUEST_PREFIX}{index}"


def guest_address(index: int) -> str:
    if not 1 <= index <= MAX_PER_ROLE:
        raise LabError(f"a lab has at most {MAX_PER_ROLE} QEMU IPVS nodes")
    return f"10.77.0.{QEMU_FIRST_OCTET + index - 1}"


def tap_name(name: str) -> str:
    return f"tap-{name}"


# --- the record ------------------------------------------------------------------------------


def read_guests() -> list[GuestState]:
    try:
        data = json.loads(GUESTS_FILE.read_text())
    except (OSError, ValueError):
        return []
    names = {f.name for f in fields(GuestState)}
    return [
        GuestState(**{k: v for k, v in g.items() if k in names}) for g in data.get("guests", [])
    ]


def _save_guests(guests: list[GuestState]) -> None:
    GUESTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = GUESTS_FILE.with_name(f".{GUESTS_FILE.name}.tmp")
    tmp.write_text(json.dumps({"guests": [asdict(g) for g in guests]}, indent=2) + "\n")
    os.replace(tmp, GUESTS_FILE)


@contextmanager
def _lock() -> Iterator[None]:
    """The guests' list: one change at a time."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with file_lock(GUESTS_LOCK):
        yield


def guest_alive(guest: GuestState) -> bool:
    return alive(guest.qemu_pid, guest.qemu_started) and alive(
        guest.forwarder_pid, guest.forwarder_started
    )


# --- up --------------------------------------------------------------------------------------


def ensure_guests(count: int, log: Log = print) -> list[GuestState]:
    """Exactly ``count`` running guests (q1..qN) in the lab that is up; reuses running ones."""
    state = read_state()
    if state is None or not state.ready:
        raise LabError("no lab is up: run `kubeha lab up` first")
    if not 0 <= count <= MAX_PER_ROLE:
        raise LabError(f"--ipvs-nodes must be 0 to {MAX_PER_ROLE}, not {count}")
    with _lock():
        guests = read_guests()
        wanted = {guest_name(i) for i in range(1, count + 1)}
        real = qemu_kube.is_real(state)
        keep = [
            g for g in guests if g.name in wanted and guest_alive(g) and bool(g.kube_drive) == real
        ]
        drop = [g for g in guests if g not in keep]
        for guest in drop:
            _stop_guest(guest)
        guests = keep
        _save_guests(guests)
        missing = [i for i in range(1, count + 1) if guest_name(i) not in {g.name for g in keep}]
        if not missing:
            return sorted(guests, key=lambda g: g.name)
        image = ensure_image(log)
        began: dict[str, float] = {}
        for index in missing:
            began[guest_name(index)] = time.monotonic()
            guests.append(_start_guest(state, image, index, guests, log))
            _save_guests(guests)
        for guest in guests:
            if guest.boot_seconds is None:
                try:
                    _wait_ready(guest, began.get(guest.name, time.monotonic()))
                except BaseException:
                    _stop_guest(guest)  # a guest that never came up is not left running
                    guests.remove(guest)
                    _save_guests(guests)
                    raise
                _save_guests(guests)
                log(f"QEMU node {guest.name} ready in {guest.boot_seconds:.1f} s")
        return sorted(guests, key=lambda g: g.name)


def _start_guest(
    state: LabState, image: GuestImage, index: int, guests: list[GuestState], log: Log
) -> GuestState:
    name, address = guest_name(index), guest_address(index)
    port = ssh_port(address)
    _check_port_free(name, port)
    folder = node.node_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    guest = GuestState(name, address, SSH_HOST, port, tap_name(name))
    guest.address6 = address6(address) if state.ipv6 else ""
    guests.append(guest)  # recorded before anything starts, so a failure can be cleaned up
    try:
        if qemu_kube.is_real(state):
            guest.kube_drive = str(qemu_kube.ensure_kube_drive(Path(state.kube_bin), log))
        key, public = pki.ensure_host_key(name)
        initrd = folder / "initrd.cpio"
        _write_initrd(initrd, image, state, name, address, key, guest.address6)
        _add_known_host(port, public)
        _add_tap(guest.tap)
        guest.qemu_pid, guest.qemu_started = _start_qemu(guest, image, initrd, folder)
        guest.forwarder_pid, guest.forwarder_started = _start_forwarder(guest, folder)
        log(f"booting QEMU node {name} ({address}, ssh {SSH_HOST}:{port})")
    except BaseException:
        _stop_guest(guest)
        guests.remove(guest)
        raise
    guests.remove(guest)
    return guest


def _write_initrd(
    target: Path,
    image: GuestImage,
    state: LabState,
    name: str,
    address: str,
    host_key: Path,
    ipv6_address: str = "",
) -> None:
    """The base initramfs plus this guest's own files (name, hosts, sshd, keys, CA; in a
    dual-stack lab a unit that gives eth0 its IPv6 address at boot: the shared image's init
    stays as it is)."""
    spec = node.NodeSpec(name, GUEST_ROLE, address)
    others = [node.NodeSpec(n.name, n.role, n.address) for n in state.nodes]
    with tempfile.TemporaryDirectory(prefix="kubeha-guest-") as tmp:
        root = Path(tmp)
        node.write_node_files(root, spec, [*others, spec], pki.public_key(), host_key, None)
        if qemu_kube.is_real(state):
            qemu_kube.write_guest_files(root, state, name, address)
        if ipv6_address:
            _write_ipv6_unit(root, ipv6_address)
        extra = Path(tmp + ".cpio")
        try:
            with CpioWriter(extra) as cpio:
                cpio.file("guest.conf", f"ADDRESS={address}\nPREFIX={PREFIX_LENGTH}\n".encode())
                cpio.tree(root, "guest")
            target.write_bytes(image.initrd_base.read_bytes() + extra.read_bytes())
        finally:
            extra.unlink(missing_ok=True)
    os.chmod(target, 0o600)


IPV6_UNIT = "kubeha-lab-ipv6.service"


def _write_ipv6_unit(root: Path, ipv6_address: str) -> None:
    """A oneshot unit adding the guest's IPv6 address to eth0 (``nodad``, as the nspawn
    nodes'), enabled for multi-user.target."""
    unit = root / "etc/systemd/system" / IPV6_UNIT
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(
        "[Unit]\n"
        "Description=kubeha lab: the node's IPv6 address\n"
        "DefaultDependencies=no\n"
        "Before=network.target sshd.service ssh.service\n"
        "\n[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart=ip -6 addr replace {ipv6_address}/{PREFIX_LENGTH6} dev eth0 nodad\n"
        "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / IPV6_UNIT).symlink_to(f"/etc/systemd/system/{IPV6_UNIT}")


def _add_tap(tap: str) -> None:
    ns = ["ip", "-n", BRIDGE_NETNS]
    run([*ns, "link", "del", tap], check=False)
    run([*ns, "tuntap", "add", "dev", tap, "mode", "tap"])
    run([*ns, "link", "set", tap, "master", BRIDGE_NAME])
    run([*ns, "link", "set", tap, "up"])


def qemu_argv(guest: GuestState, image: GuestImage, initrd: Path, folder: Path) -> list[str]:
    """QEMU in the bridge namespace: TCG, the PVH vmlinux, the root image as a snapshot, one
    virtio NIC on the guest's tap and nothing else (no user networking, no display); in a real
    lab also the Kubernetes clients' disk, read-only."""
    last = int(guest.address.rsplit(".", 1)[1])
    memory = qemu_kube.MEMORY_MB if guest.kube_drive else MEMORY_MB
    kube = ["-drive", f"file={guest.kube_drive},format=raw,if=virtio,readonly=on"]
    return [
        "ip",
        "netns",
        "exec",
        BRIDGE_NETNS,
        "qemu-system-x86_64",
        "-nodefaults",
        "-no-user-config",
        "-machine",
        "pc",
        "-accel",
        "tcg",
        "-cpu",
        CPU,
        "-smp",
        str(CPUS),
        "-m",
        str(memory),
        "-display",
        "none",
        "-serial",
        f"file:{folder / 'console.log'}",
        "-no-reboot",
        "-kernel",
        str(image.vmlinux),
        "-initrd",
        str(initrd),
        "-append",
        " ".join(KERNEL_ARGS),
        "-drive",
        f"file={image.root_image},format=raw,if=virtio,snapshot=on,cache=unsafe",
        "-netdev",
        f"tap,id=lab,ifname={guest.tap},script=no,downscript=no",
        "-device",
        f"virtio-net-pci,netdev=lab,mac=52:54:00:77:00:{last:02x}",
        *(kube if guest.kube_drive else []),
    ]


def _start_qemu(
    guest: GuestState, image: GuestImage, initrd: Path, folder: Path
) -> tuple[int, int]:
    with open(folder / "qemu.log", "ab") as logf:
        proc = subprocess.Popen(
            qemu_argv(guest, image, initrd, folder),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env={**os.environ, "TMPDIR": str(folder)},  # where snapshot=on keeps its writes
        )
    started = start_time(proc.pid)
    if started is None:
        raise LabError(f"QEMU for {guest.name} exited at once; see {folder}/qemu.log")
    return proc.pid, started


def _start_forwarder(guest: GuestState, folder: Path) -> tuple[int, int]:
    pid, started = spawn_forwarder(
        guest.ssh_host,
        [f"{guest.ssh_port}={guest.address}:22"],
        folder / "forwarder.ready",
        folder / "forwarder.log",
        f"the SSH forwarder for {guest.name}",
    )
    if started is None:
        raise LabError(f"the SSH forwarder for {guest.name} exited at once; see {folder}")
    return pid, started


def _check_port_free(name: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((SSH_HOST, port))
        except OSError as exc:
            raise LabError(f"port {SSH_HOST}:{port} (SSH to QEMU node {name}) is in use") from exc


def _wait_ready(guest: GuestState, began: float) -> None:
    """Until systemd inside reports running (or degraded) over SSH."""
    deadline = began + BOOT_TIMEOUT
    last = "sshd does not answer"
    while time.monotonic() < deadline:
        if not alive(guest.qemu_pid, guest.qemu_started):
            raise LabError(f"QEMU node {guest.name} stopped while booting:\n{console_tail(guest)}")
        if _ssh_banner(guest.ssh_host, guest.ssh_port):
            left = max(5.0, min(60.0, deadline - time.monotonic()))
            try:
                proc = exec_in_guest(
                    guest, ["systemctl", "is-system-running", "--wait"], timeout=left
                )
            except LabError as exc:  # still starting units: ask again until the deadline
                last = str(exc)
                continue
            status = proc.stdout.strip()
            if status in ("running", "degraded"):
                guest.boot_seconds = time.monotonic() - began
                return
            last = f"systemd is {status or 'not answering'} {proc.stderr.strip()}"
        time.sleep(0.5)
    raise LabError(
        f"QEMU node {guest.name} was not ready within {BOOT_TIMEOUT:.0f} s ({last}); "
        f"its console ends:\n{console_tail(guest)}"
    )


def _ssh_banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(3)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def console_tail(guest: GuestState, lines: int = 30) -> str:
    try:
        text = (node.node_dir(guest.name) / "console.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- using a guest ---------------------------------------------------------------------------


def ssh_argv(guest: GuestState, argv: Sequence[str]) -> list[str]:
    """``ssh`` to the guest as root with the lab key, its host key checked."""
    return [
        "ssh",
        "-q",
        "-i",
        str(SSH_KEY_FILE),
        "-o",
        f"UserKnownHostsFile={KNOWN_HOSTS_FILE}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-p",
        str(guest.ssh_port),
        f"root@{guest.ssh_host}",
        shlex.join(argv),
    ]


def exec_in_guest(
    guest: GuestState, argv: Sequence[str], *, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on the guest over SSH; output captured as text."""
    return run(ssh_argv(guest, argv), check=check, timeout=timeout)


def guest(name: str) -> GuestState:
    for g in read_guests():
        if g.name == name:
            return g
    raise LabError(f"the lab has no QEMU node {name!r}")


# --- known_hosts -----------------------------------------------------------------------------


def _known_host_name(port: int) -> str:
    return f"[{SSH_HOST}]:{port}"


def _add_known_host(port: int, public: str) -> None:
    _remove_known_host(port)
    keytype, key = public.split()[:2]
    with open(KNOWN_HOSTS_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{_known_host_name(port)} {keytype} {key}\n")


def _remove_known_host(port: int) -> None:
    try:
        lines = KNOWN_HOSTS_FILE.read_text().splitlines(keepends=True)
    except OSError:
        return
    kept = [line for line in lines if not line.startswith(_known_host_name(port) + " ")]
    if kept != lines:
        tmp = KNOWN_HOSTS_FILE.with_name(f".{KNOWN_HOSTS_FILE.name}.tmp")
        tmp.write_text("".join(kept))
        os.chmod(tmp, 0o644)
        os.replace(tmp, KNOWN_HOSTS_FILE)


# --- down ------------------------------------------------------------------------------------


def _stop_guest(guest: GuestState) -> None:
    procs = process_tree(guest.qemu_pid, guest.qemu_started, f"QEMU of {guest.name}")
    procs += process_tree(guest.forwarder_pid, guest.forwarder_started, f"{guest.name}'s forwarder")
    stop_process(guest.qemu_pid, guest.qemu_started, signal.SIGTERM, 5)
    stop_process(guest.forwarder_pid, guest.forwarder_started, signal.SIGTERM, 5)
    require_gone(procs, GONE_TIMEOUT, f"QEMU node {guest.name}")
    if network.netns_exists(BRIDGE_NETNS):
        run(["ip", "-n", BRIDGE_NETNS, "link", "del", guest.tap], check=False)
    _remove_known_host(guest.ssh_port)
    folder = NODES_DIR / guest.name
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
        folder.rmdir()


def remove_guests(log: Log = print) -> int:
    """Stop every recorded guest and remove what it used; returns how many there were."""
    with _lock():
        guests = read_guests()
        for g in guests:
            log(f"stopping QEMU node {g.name}")
            _stop_guest(g)
        GUESTS_FILE.unlink(missing_ok=True)
        return len(guests)


# --- profiles --------------------------------------------------------------------------------


def ipvs_profile(state: LabState, guests: list[GuestState], ipv6: bool = False) -> dict:
    """The lab's ipvs profile (a TOML-ready dict) with the QEMU nodes as its workers: the
    nspawn nodes share this host's kernel, which has no IPVS. ``ipv6``: the IPv6 one."""
    from wizard.lab.profiles import build_profile

    profile = build_profile(state, "ipvs", ipv6)
    profile["workers"] = [
        {
            "name": g.name,
            "address": g.address6 if ipv6 else g.address,
            "ssh": {"host": g.ssh_host, "port": g.ssh_port},
        }
        for g in guests
    ]
    return profile
