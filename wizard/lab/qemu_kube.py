"""What a QEMU IPVS node of a real lab gets beside the guest image: the Kubernetes clients.

An nspawn node of a real lab has the cached build bind-mounted; a guest cannot, so its kubectl
and kube-proxy come on a second, read-only virtio disk (``kube-<hash>.ext4`` in the QEMU cache,
made once per build with ``mkfs.ext4 -d``), which a oneshot service mounts where the nspawn
nodes have the build. Its other files travel in the guest's initramfs like its SSH keys: the
lab CA, an admin kubeconfig and kube-proxy's (new client certificates from the lab CA, pointing
at the first master as the seed does before a load balancer exists), the kube-proxy unit
(iptables mode, as on the workers) and Debian's iptables, unpacked from the debs the workers
install, with the links its package scripts would make (the nft backend, Debian's default).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from wizard.lab import control_plane as cp
from wizard.lab.errors import LabError
from wizard.lab.lock import file_lock
from wizard.lab.qemu_image import QEMU_CACHE
from wizard.lab.state import LabState
from wizard.lab.system import run

DRIVE_PROGRAMS = ("kubectl", "kube-proxy")
DRIVE_DEVICE = "/dev/vdb"  # the second virtio disk
MEMORY_MB = 1024  # kube-proxy, a kubectl watch and the bench's agent beside systemd and sshd
# update-alternatives' links in the iptables package's postinst (nft, Debian's default).
IPTABLES_LINKS = {
    f"{tool}{suffix}": f"{tool}-nft{suffix}"
    for tool in ("iptables", "ip6tables")
    for suffix in ("", "-save", "-restore")
}
MOUNT_UNIT = "kubeha-lab-kube.service"
# A service, not an fstab line: the guest runs no udev, so systemd never sees /dev/vdb "plugged"
# and a mount unit would wait 90 s for it; the kernel's devtmpfs has the node all the same.
MOUNT_SERVICE = (
    "[Unit]\n"
    "Description=The lab's Kubernetes clients, read-only (kubeha lab)\n"
    f"Before={cp.PROXY_UNIT}\n"
    "\n[Service]\n"
    "Type=oneshot\n"
    "RemainAfterExit=yes\n"
    f"ExecStart=/bin/mkdir -p {cp.BIN_IN_NODE}\n"
    f"ExecStart=/bin/mount -t ext4 -o ro,noatime {DRIVE_DEVICE} {cp.BIN_IN_NODE}\n"
    "\n[Install]\n"
    "WantedBy=multi-user.target\n"
)

Log = Callable[[str], None]


def is_real(state: LabState) -> bool:
    return state.control_plane == cp.REAL and bool(state.kube_bin)


def ensure_kube_drive(kube_bin: Path, log: Log = print) -> Path:
    """The read-only disk with the guest's Kubernetes programs, built once per build."""
    missing = [p for p in DRIVE_PROGRAMS if not (kube_bin / p).is_file()]
    if missing:
        raise LabError(f"the Kubernetes build {kube_bin} lacks {', '.join(missing)}")
    key = hashlib.sha256(str(kube_bin.resolve()).encode()).hexdigest()[:12]
    target = QEMU_CACHE / f"kube-{key}.ext4"
    QEMU_CACHE.mkdir(parents=True, exist_ok=True)
    with file_lock(QEMU_CACHE / "build.lock"):
        if not target.is_file():
            _build_drive(kube_bin, target, log)
        for old in QEMU_CACHE.glob("kube-*.ext4"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


def _build_drive(kube_bin: Path, target: Path, log: Log) -> None:
    with tempfile.TemporaryDirectory(dir=QEMU_CACHE, prefix=".kube-") as staging_name:
        staging = Path(staging_name) / "bin"
        staging.mkdir()
        size = 0
        for program in DRIVE_PROGRAMS:
            shutil.copy2(kube_bin / program, staging / program)
            size += (staging / program).stat().st_size
        tmp = Path(staging_name) / "kube.ext4"
        size_mb = int(size / 1024 / 1024 * 1.2) + 16
        argv = ["mkfs.ext4", "-q", "-F", "-L", "kubeha-kube", "-d", str(staging), str(tmp)]
        run([*argv, f"{size_mb}M"], timeout=300)
        os.replace(tmp, target)
    log(f"QEMU nodes' Kubernetes disk built: {target}")


def write_guest_files(root: Path, state: LabState, name: str, address: str) -> None:
    """Into the guest's initramfs tree: kubeconfigs, the kube-proxy unit, iptables and the
    unit that mounts the Kubernetes clients' disk."""
    masters = [(n.name, n.address) for n in state.nodes if n.role == "master"]
    if not masters:
        raise LabError("the lab has no master for the QEMU node's clients")
    cp.write_node_files(
        root, name, "worker", address, masters, cp.issue_cluster_pki(), state.hardened
    )
    for deb in cp.ensure_node_debs():
        run(["dpkg", "-x", str(deb), str(root)], timeout=120)
    sbin = root / "usr/sbin"
    for link, target in IPTABLES_LINKS.items():
        if not (sbin / target).exists() and not (sbin / target).is_symlink():
            raise LabError(f"the iptables package has no {target}")
        (sbin / link).unlink(missing_ok=True)
        (sbin / link).symlink_to(target)
    units = root / "etc/systemd/system"
    (units / MOUNT_UNIT).write_text(MOUNT_SERVICE)
    wants = units / "multi-user.target.wants" / MOUNT_UNIT
    wants.unlink(missing_ok=True)
    wants.symlink_to(f"/etc/systemd/system/{MOUNT_UNIT}")
