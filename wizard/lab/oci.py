"""OCI image archives written from files on this machine: no registry, no image builder.

An OCI image is a tar of layers plus a config and a manifest, indexed by ``index.json``
(the OCI image-layout spec). :func:`write_archive` writes one archive holding several images,
each named by the ``io.containerd.image.name`` annotation that ``ctr images import`` reads,
so ``ctr -n k8s.io images import`` loads them all under the names kubeadm expects.

Layers are plain (uncompressed) tars with files owned by root and a fixed mtime, so the same
files give the same digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

MTIME = 0  # every entry's mtime: the same input files give the same layer digest


@dataclass(frozen=True)
class Image:
    """One image: its full name, its files (path in the image -> host file or symlink
    target), its entrypoint or command and environment."""

    name: str  # k8s.gcr.io/kube-apiserver:v1.20.2
    files: dict[str, Path]
    symlinks: dict[str, str] = field(default_factory=dict)  # path in image -> link target
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",)


def _layer(image: Image) -> bytes:
    """The image's single layer: its folders, files and symlinks, root-owned."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        paths = sorted({*image.files, *image.symlinks})
        for path in paths:
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = MTIME
                    tar.addfile(info)
        for path in paths:
            name = path.strip("/")
            if path in image.symlinks:
                info = tarfile.TarInfo(name)
                info.type = tarfile.SYMTYPE
                info.linkname = image.symlinks[path]
                info.mtime = MTIME
                tar.addfile(info)
                continue
            source = image.files[path]
            st = source.stat()
            info = tarfile.TarInfo(name)
            info.size = st.st_size
            info.mode = st.st_mode & 0o7777
            info.mtime = MTIME
            with open(source, "rb") as f:
                tar.addfile(info, f)
    return buf.getvalue()


def _blob(out: tarfile.TarFile, data: bytes, written: set[str]) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if digest not in written:
        written.add(digest)
        info = tarfile.TarInfo(f"blobs/sha256/{digest}")
        info.size = len(data)
        info.mode = 0o644
        info.mtime = MTIME
        out.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


def write_archive(images: list[Image], target: Path) -> None:
    """One OCI image-layout tar at ``target`` with every image in ``images`` (atomic)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    written: set[str] = set()
    manifests = []
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        for image in images:
            layer = _layer(image)
            layer_digest = _blob(out, layer, written)
            config = {
                "architecture": "amd64",
                "os": "linux",
                "config": {
                    "Env": list(image.env),
                    "Entrypoint": list(image.entrypoint) or None,
                },
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                "history": [{"created_by": "kubeha lab (wizard.lab.oci)"}],
            }
            config_data = json.dumps(config, sort_keys=True).encode()
            config_digest = _blob(out, config_data, written)
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config_data),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            }
            manifest_data = json.dumps(manifest, sort_keys=True).encode()
            manifests.append(
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": _blob(out, manifest_data, written),
                    "size": len(manifest_data),
                    "annotations": {
                        "io.containerd.image.name": image.name,
                        "org.opencontainers.image.ref.name": image.name.rpartition(":")[2],
                    },
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            )
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = MTIME
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, target)
