"""Install the host programs the lab needs, with apt-get, when any of them is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from wizard.lab.system import run

# Debian package -> a program that shows it is installed.
HOST_PACKAGES = {
    "systemd-container": "systemd-nspawn",
    "debootstrap": "debootstrap",
    "iproute2": "ip",
    "openssh-client": "ssh-keygen",
    "openssl": "openssl",
    "util-linux": "nsenter",
}


def missing_packages() -> list[str]:
    """Packages whose program is not on PATH (sbin folders included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [pkg for pkg, prog in HOST_PACKAGES.items() if shutil.which(prog, path=path) is None]


def ensure_host_packages(log: Callable[[str], None] = print) -> None:
    """apt-get install whatever is missing (one ``apt-get update`` first); no-op otherwise."""
    missing = missing_packages()
    if not missing:
        return
    log(f"installing host packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], timeout=600, env=env)
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        timeout=1200,
        env=env,
    )
