"""What a QEMU IPVS lab node boots: Debian's stock kernel and an ext4 image of the lab rootfs.

This host's kernel has no IPVS, so the lab's IPVS nodes are QEMU guests (software emulation)
running Debian's own kernel, which ships ip_vs as modules. Everything is built on the host and
cached in ``/var/cache/kubeha/qemu``:

* the kernel package (``apt-get download``, unpacked with ``dpkg -x``, never installed into /):
  ``vmlinux`` decompressed out of ``vmlinuz`` (booted through its PVH entry, the fastest
  way under TCG) and its modules, indexed with kmod's own ``depmod``;
* ``root.ext4``: the lab's nspawn rootfs (systemd, sshd, ipvsadm, curl) plus the kernel's
  modules and kmod, made with ``mkfs.ext4 -d``;
* ``initrd-base.cpio``: busybox and the few modules needed to reach the disk and the network.

Each folder is named after a hash of its recipe (kernel version, rootfs recipe, this module's
version), so anything stale is rebuilt and old folders are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wizard.lab import rootfs as lab_rootfs
from wizard.lab.constants import CACHE_DIR
from wizard.lab.cpio import CpioWriter
from wizard.lab.errors import LabError
from wizard.lab.lock import file_lock
from wizard.lab.system import run

QEMU_CACHE = CACHE_DIR / "qemu"
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"  # 27 MB; ships ip_vs and virtio as modules
HOST_PACKAGES = {
    "qemu-system-x86": "qemu-system-x86_64",
    "busybox-static": "busybox",
    "e2fsprogs": "mkfs.ext4",
    "lz4": "lz4",
    "zstd": "zstd",
}
# Loaded by the initramfs, dependencies first (resolved from modules.dep).
INITRD_MODULES = ("virtio_pci", "virtio_blk", "virtio_net")
RECIPE_VERSION = "1"
STAMP = ".kubeha-stamp"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZ4_LEGACY_MAGIC = b"\x02!L\x18"
ZSTD_MAGIC = b"(\xb5/\xfd"

INIT_SCRIPT = r"""#!/bin/busybox sh
# kubeha lab IPVS node: load the disk and network drivers, give eth0 the node's address,
# copy the node's own files onto the root file system and hand over to systemd.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules.list); do /bin/busybox insmod "/modules/$m"; done
. /guest.conf
/bin/busybox ip link set lo up
i=0
while ! /bin/busybox ip link show eth0 >/dev/null 2>&1 && [ $i -lt 100 ]; do
  /bin/busybox usleep 50000; i=$((i + 1))
done
/bin/busybox ip addr add "$ADDRESS/$PREFIX" dev eth0
/bin/busybox ip link set eth0 up
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do /bin/busybox usleep 50000; i=$((i + 1)); done
/bin/busybox mount -t ext4 -o rw,noatime /dev/vda /newroot || exec /bin/busybox sh
/bin/busybox cp -a /guest/. /newroot/
/bin/busybox umount /proc /sys /dev
exec /bin/busybox switch_root /newroot /lib/systemd/systemd
"""

Log = Callable[[str], None]


def ensure_host_packages(log: Log = print) -> None:
    """qemu-system-x86, busybox-static, e2fsprogs with apt-get when any is missing."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [p for p, prog in HOST_PACKAGES.items() if shutil.which(prog, path=path) is None]
    if not missing:
        return
    log(f"installing host packages for QEMU nodes: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], timeout=600, env=env)
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        timeout=1200,
        env=env,
    )


def kernel_package() -> str:
    """The versioned kernel package the meta package points at (``linux-image-6.1.0-N-cloud-amd64``)."""
    for attempt in range(2):
        proc = run(["apt-cache", "depends", KERNEL_META_PACKAGE], check=False)
        for line in proc.stdout.splitlines():
            word = line.strip()
            if word.startswith("Depends: linux-image-"):
                return word.split(":", 1)[1].strip()
        if attempt == 0:
            run(["apt-get", "update", "-q"], timeout=600, check=False)
    raise LabError(f"apt-cache knows no {KERNEL_META_PACKAGE}: is Debian's apt source configured?")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _stamped(folder: Path, recipe: str, files: tuple[str, ...]) -> bool:
    try:
        if (folder / STAMP).read_text().strip() != recipe:
            return False
    except OSError:
        return False
    return all((folder / f).exists() for f in files)


class GuestImage:
    """The cached kernel, modules, root image and base initramfs for QEMU lab nodes."""

    def __init__(self, folder: Path, kernel_version: str) -> None:
        self.folder = folder
        self.kernel_version = kernel_version

    @property
    def vmlinux(self) -> Path:
        return self.folder / "vmlinux"

    @property
    def root_image(self) -> Path:
        return self.folder / "root.ext4"

    @property
    def initrd_base(self) -> Path:
        return self.folder / "initrd-base.cpio"


def ensure_image(log: Log = print) -> GuestImage:
    """Build (once, locked) or reuse the guest image for the current kernel and rootfs."""
    ensure_host_packages(log)
    rootfs = lab_rootfs.ensure_rootfs(log)
    package = kernel_package()
    recipe = _hash(RECIPE_VERSION, package, lab_rootfs.recipe_hash(), INIT_SCRIPT)
    folder = QEMU_CACHE / f"guest-{recipe}"
    files = ("vmlinux", "root.ext4", "initrd-base.cpio", "kernel-version")
    QEMU_CACHE.mkdir(parents=True, exist_ok=True)
    with file_lock(QEMU_CACHE / "build.lock"):
        if not _stamped(folder, recipe, files):
            if folder.exists():
                log(f"cached QEMU guest image {folder} is broken or stale: rebuilding")
            _build(folder, recipe, package, rootfs, log)
        for old in QEMU_CACHE.iterdir():
            if old.is_dir() and old != folder:
                shutil.rmtree(old, ignore_errors=True)
    return GuestImage(folder, (folder / "kernel-version").read_text().strip())


def _build(folder: Path, recipe: str, package: str, rootfs: Path, log: Log) -> None:
    started = time.monotonic()
    log(f"building the QEMU IPVS node image ({package}) into {folder}")
    tmp = QEMU_CACHE / f".build-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        debs = tmp / "debs"
        debs.mkdir()
        _download(debs, package, "kmod")
        kernel_tree, kmod_tree = tmp / "kernel", tmp / "kmod"
        for deb in debs.glob("*.deb"):
            run(
                [
                    "dpkg",
                    "-x",
                    str(deb),
                    str(kmod_tree if deb.name.startswith("kmod_") else kernel_tree),
                ]
            )
        versions = sorted(p.name for p in (kernel_tree / "lib/modules").iterdir())
        if len(versions) != 1:
            raise LabError(f"{package} holds {len(versions)} module trees, expected one")
        version = versions[0]
        depmod = tmp / "depmod"  # kmod picks its tool from the name it is run as
        depmod.symlink_to(kmod_tree / "bin/kmod")
        run([str(depmod), "-b", str(kernel_tree), version])
        (tmp / "vmlinux").write_bytes(_extract_vmlinux(kernel_tree / f"boot/vmlinuz-{version}"))
        _write_initrd_base(tmp / "initrd-base.cpio", kernel_tree / "lib/modules" / version)
        _make_root_image(tmp / "root.ext4", rootfs, kernel_tree, kmod_tree, version)
        (tmp / "kernel-version").write_text(version + "\n")
        for sub in (debs, kernel_tree, kmod_tree):
            shutil.rmtree(sub)
        depmod.unlink()
        (tmp / STAMP).write_text(recipe + "\n")
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"QEMU guest image built in {time.monotonic() - started:.0f} s")


def _download(folder: Path, *packages: str) -> None:
    """``apt-get download`` into ``folder`` (the .deb files only; nothing is installed)."""
    proc = subprocess.run(
        ["apt-get", "download", "-q", *packages],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise LabError(f"apt-get download {' '.join(packages)} failed: {proc.stderr.strip()}")


def _extract_vmlinux(vmlinuz: Path) -> bytes:
    """The uncompressed ELF kernel inside a bzImage (payload located by its boot header;
    xz, lz4 (Debian's cloud flavour) or zstd)."""
    data = vmlinuz.read_bytes()
    setup_sectors = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack("<II", data[0x248:0x250])
    start = (setup_sectors + 1) * 512 + payload_offset
    payload = data[start : start + payload_length]
    if payload.startswith(XZ_MAGIC):
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload.startswith((LZ4_LEGACY_MAGIC, ZSTD_MAGIC)):
        tool = ["lz4", "-dc"] if payload.startswith(LZ4_LEGACY_MAGIC) else ["zstd", "-dcq"]
        proc = subprocess.run(tool, input=payload, capture_output=True, timeout=120, check=False)
        elf = proc.stdout  # lz4 reports the size field of the legacy frame as an error
    else:
        raise LabError(f"{vmlinuz}: unknown compression {payload[:6].hex()}")
    if not elf.startswith(b"\x7fELF"):
        raise LabError(f"{vmlinuz}: the payload is not an ELF kernel")
    return elf


def module_order(modules_dir: Path, names: tuple[str, ...]) -> list[str]:
    """Relative paths of ``names`` and their dependencies, dependencies first, no repeats."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko")[0].replace("-", "_")] = path
    order: list[str] = []

    def add(path: str) -> None:
        for dep in reversed(deps.get(path, [])):
            add(dep)
        if path not in order:
            order.append(path)

    for name in names:
        if name not in by_name:
            raise LabError(f"the guest kernel has no module {name}")
        add(by_name[name])
    return order


def _write_initrd_base(target: Path, modules_dir: Path) -> None:
    busybox = shutil.which("busybox", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if busybox is None:
        raise LabError("busybox is not installed (busybox-static)")
    order = module_order(modules_dir, INITRD_MODULES)
    with CpioWriter(target) as cpio:
        for folder in ("bin", "dev", "proc", "sys", "newroot", "modules"):
            cpio.directory(folder)
        cpio.file("bin/busybox", Path(busybox).read_bytes(), 0o755)
        cpio.file("init", INIT_SCRIPT.encode(), 0o755)
        cpio.file("modules.list", "".join(f"{Path(p).name}\n" for p in order).encode())
        for path in order:
            cpio.file(f"modules/{Path(path).name}", (modules_dir / path).read_bytes())
        cpio.device("dev/console", 5, 1, 0o600)
        cpio.device("dev/null", 1, 3, 0o666)
        cpio.end()


def _make_root_image(
    target: Path, rootfs: Path, kernel_tree: Path, kmod_tree: Path, version: str
) -> None:
    """ext4 image: the lab rootfs, the kernel's modules, kmod (modprobe) for the engine."""
    with tempfile.TemporaryDirectory(dir=QEMU_CACHE, prefix=".root-") as staging_name:
        staging = Path(staging_name) / "root"
        run(["cp", "-a", str(rootfs), str(staging)], timeout=600)
        modules = staging / "usr/lib/modules"
        modules.mkdir(parents=True, exist_ok=True)
        run(["cp", "-a", str(kernel_tree / "lib/modules" / version), str(modules / version)])
        shutil.copy2(kmod_tree / "bin/kmod", staging / "usr/bin/kmod")
        for tool in ("modprobe", "depmod", "lsmod", "insmod", "rmmod", "modinfo"):
            link = staging / "usr/sbin" / tool
            link.unlink(missing_ok=True)
            link.symlink_to("/usr/bin/kmod")
        (staging / "etc/fstab").write_text("/dev/vda / ext4 rw,noatime 0 0\n")
        size_mb = int(_tree_size(staging) / 1024 / 1024 * 1.3) + 256
        run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "kubeha-root",
                "-d",
                str(staging),
                str(target),
                f"{size_mb}M",
            ],
            timeout=600,
        )


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
