"""The kubeadm lab's balancer images, for ``[balancer] run_as = "static-pod"``: haproxy, nginx
and keepalived (with sh and curl for its check script) as the lab rootfs's own Debian binaries
plus the libraries ``ldd`` lists, written as OCI images
here (:mod:`wizard.lab.oci`): no download, no registry. Each kubeadm node's containerd imports
them at lab-up (``kubeadm_lab.bring_up``), and the lab's static-pod profiles name them
(:mod:`wizard.lab.profiles`).

They are cached apart from the kubeadm node layer (their own key), so adding them left that
layer's key, and every cached layer, as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from wizard.lab import oci
from wizard.lab.cached_build import cached_build
from wizard.lab.constants import CACHE_DIR
from wizard.lab.kubeadm_lab import BALANCER_IMAGES_TAR
from wizard.lab.kubeadm_lab import _elf_closure as elf_closure

RECIPE_VERSION = "2"
HAPROXY_IMAGE = "kubeha.lab/haproxy:debian12"
NGINX_IMAGE = "kubeha.lab/nginx:debian12"
# keepalived with sh and curl: its check script (check_apiserver.sh) runs in its container.
KEEPALIVED_IMAGE = "kubeha.lab/keepalived:debian12"
# Debian's nginx has its stream module apart (libnginx-mod-stream): the config loads it.
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
IMAGES_IN_NODE = "/opt/kubeha-lab/balancer-images"  # read-only bind of the cached folder
ARCHIVE = "balancers.tar"
assert f"{IMAGES_IN_NODE}/{ARCHIVE}" == BALANCER_IMAGES_TAR  # where bring_up imports it
# The user and group files the balancers drop to (haproxy's `user haproxy`, nginx's www-data).
ACCOUNTS = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
# Folders the programs write to at start (an empty file keeps each in the one layer).
NGINX_DIRS = ("/run", "/tmp", "/var/log/nginx", "/var/lib/nginx")
HAPROXY_DIRS = ("/run", "/tmp", "/var/lib/haproxy")
KEEPALIVED_DIRS = ("/run", "/tmp")


def key(rootfs: Path) -> str:
    text = "\n".join([RECIPE_VERSION, rootfs.name, HAPROXY_IMAGE, NGINX_IMAGE, KEEPALIVED_IMAGE])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def path_for(rootfs: Path) -> Path:
    """The cached folder holding ``balancers.tar`` for the rootfs ``rootfs``."""
    return CACHE_DIR / f"lab-balancer-images-{key(rootfs)}"


def images(rootfs: Path, empty: Path) -> list[oci.Image]:
    """The haproxy and nginx images from ``rootfs``'s binaries; ``empty``: an empty host file."""
    accounts = {name: rootfs / name.lstrip("/") for name in ACCOUNTS}
    haproxy = elf_closure(rootfs, ["/usr/sbin/haproxy"])
    haproxy.update(accounts)
    haproxy.update({f"{d}/.kubeha-lab": empty for d in HAPROXY_DIRS})
    nginx = elf_closure(rootfs, ["/usr/sbin/nginx", NGINX_STREAM_MODULE])
    nginx.update(accounts)
    nginx.update({f"{d}/.kubeha-lab": empty for d in NGINX_DIRS})
    keepalived = elf_closure(rootfs, ["/usr/sbin/keepalived", "/bin/sh", "/usr/bin/curl"])
    keepalived.update(accounts)
    keepalived.update({f"{d}/.kubeha-lab": empty for d in KEEPALIVED_DIRS})
    return [
        oci.Image(HAPROXY_IMAGE, haproxy, entrypoint=("/usr/sbin/haproxy",)),
        oci.Image(NGINX_IMAGE, nginx, entrypoint=("/usr/sbin/nginx",)),
        oci.Image(KEEPALIVED_IMAGE, keepalived, entrypoint=("/usr/sbin/keepalived",)),
    ]


def ensure(rootfs: Path, log: Callable[[str], None] = print) -> Path:
    """The cached folder with ``balancers.tar``, written once (seconds), locked, atomic."""
    path = path_for(rootfs)

    def build(work: Path) -> None:
        work.mkdir(parents=True)
        empty = work / "empty"
        empty.write_bytes(b"")
        oci.write_archive(images(rootfs, empty), work / ARCHIVE)
        empty.unlink()

    if cached_build(
        path,
        prefix="lab-balancer-images-",
        lock=CACHE_DIR / "lab-balancer-images.lock",
        done=lambda folder: (folder / ARCHIVE).is_file(),
        build=build,
        log=log,
    ):
        log(f"balancer images (haproxy, nginx, keepalived) written to {path / ARCHIVE}")
    return path
