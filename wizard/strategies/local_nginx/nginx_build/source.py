"""Where the source comes from: a local tarball (checked against its sha256), or Debian's nginx
source package at a pinned version (``apt-get source``, checked by the sha256 of its .dsc, which
pins every other file of the package; Debian's patches applied by ``dpkg-source -x``).

Either way the result is one tarball on the operator's machine, sent as is to the build host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wizard.errors import KubehaError
from wizard.paths import make_private_dirs
from wizard.strategies.local_nginx.install import Install

PACKAGE = "nginx"


class SourceError(KubehaError):
    """The source could not be had, or is not the one the profile pinned."""

    exit_code = 1

    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


@dataclass(frozen=True)
class Source:
    tarball: Path  # what the build host unpacks
    sha256: str  # the identity of the source: the tarball's or the .dsc's hash
    label: str  # for messages and the build record


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tail(text: str, limit: int = 15) -> tuple[str, ...]:
    return tuple(line for line in text.splitlines() if line.strip())[-limit:]


def _pinned(install: Install, field: str, actual: str, what: str) -> None:
    if install.source_sha256 and install.source_sha256 != actual:
        raise SourceError(
            f"{field}: {what} has sha256 {actual}, but install.source_sha256 is "
            f"{install.source_sha256}; refusing to build from it"
        )


def fetch_source(install: Install, cache: Path, download: bool = True) -> Source | None:
    """The source tarball the profile names, checked; Debian's is downloaded once and cached.
    With ``download`` False (a dry run) nothing is downloaded or run: Debian's source is the
    cached one, or None when it is not in the cache yet."""
    if install.source_tarball:
        path = Path(os.path.expanduser(install.source_tarball))
        if not path.is_file():
            raise SourceError(f"install.source_tarball: {path} is not a file")
        digest = sha256_file(path)
        _pinned(install, "install.source_tarball", digest, str(path))
        return Source(path, digest, path.name)
    version = install.source_package_version
    if not version:
        raise SourceError("install: method 'source' needs source_tarball or source_package_version")
    return _debian_source(install, version, cache / "sources" / f"{PACKAGE}_{version}", download)


def _debian_source(install: Install, version: str, folder: Path, download: bool) -> Source | None:
    tarball = folder / f"{PACKAGE}-{version.split(':')[-1]}.tar.gz"
    dscs = sorted(folder.glob("*.dsc")) if folder.is_dir() else []
    if not (dscs and tarball.is_file()):
        if not download:
            return None
        _download(version, folder)
        dscs = sorted(folder.glob("*.dsc"))
    if len(dscs) != 1:
        raise SourceError(
            f"install.source_package_version: no single .dsc for {version} in {folder}"
        )
    digest = sha256_file(dscs[0])
    _pinned(install, "install.source_package_version", digest, dscs[0].name)
    return Source(tarball, digest, dscs[0].name)


def _download(version: str, folder: Path) -> None:
    """apt-get source into a fresh folder, unpack with Debian's patches, pack one tarball."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-source") is None:
        raise SourceError(
            "install.source_package_version: needs apt-get and dpkg-source (package dpkg-dev) "
            "on this machine, or use install.source_tarball"
        )
    make_private_dirs(folder.parent)  # 0700, parents too, whatever the umask
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        got = subprocess.run(
            ["apt-get", "source", "--download-only", "-q", f"{PACKAGE}={version}"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if got.returncode != 0:
            text = got.stdout + got.stderr
            hint = (
                "apt has no deb-src entries: add a 'Types: deb-src' sources file, run apt-get update"
                if "deb-src" in text
                else f"is {PACKAGE} {version} still on the mirror? pin a version that downloads"
            )
            raise SourceError(
                f"install.source_package_version: apt-get source {PACKAGE}={version} failed ({hint})",
                _tail(text),
            )
        dsc = sorted(work.glob("*.dsc"))
        if len(dsc) != 1:
            raise SourceError(f"apt-get source {PACKAGE}={version} gave no single .dsc")
        tree = work / "tree"
        unpacked = subprocess.run(
            ["dpkg-source", "-x", dsc[0].name, "tree"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if unpacked.returncode != 0:
            raise SourceError(
                f"dpkg-source -x {dsc[0].name} failed", _tail(unpacked.stdout + unpacked.stderr)
            )
        name = f"{PACKAGE}-{version.split(':')[-1]}"
        tree.rename(work / name)
        packed = subprocess.run(
            ["tar", "--sort=name", "--owner=0", "--group=0", "-czf", f"{name}.tar.gz", name],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if packed.returncode != 0:
            raise SourceError(f"packing {name} failed", _tail(packed.stderr))
        shutil.rmtree(work / name)
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"fetching the {PACKAGE} source timed out: {exc.cmd[0]}") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
