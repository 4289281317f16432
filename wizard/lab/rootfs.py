"""The lab's root filesystem: a Debian bookworm tree built once with debootstrap and cached.

The cache folder is named after a hash of the recipe (suite, packages, customisation), so a
changed recipe builds a new tree. A tree counts only with its stamp file (written last, after the
build is renamed into place) and its key programs present; anything else is rebuilt. A file lock
keeps two concurrent ``lab up`` from building at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from wizard.lab.cached_build import cached_build
from wizard.lab.constants import CACHE_DIR
from wizard.lab.errors import LabError
from wizard.lab.system import run

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "curl",
    "ca-certificates",
    "nginx-light",
    "libnginx-mod-stream",
    "haproxy",
    "keepalived",
    "ipvsadm",
    "python3",
    "sudo",
    "procps",
    "nftables",
    # kube-nginx built from source on a node (install.build_host): the nodes have no network.
    "gcc",
    "make",
    "libc6-dev",
)
# Distro services kubeha's deploy enables itself: installed, but not started at boot.
DISABLED_SERVICES = ("nginx.service", "haproxy.service", "keepalived.service", "nftables.service")
# Units that would fight the lab (it sets addresses and names itself; no consoles to log in on).
MASKED_UNITS = (
    "systemd-networkd.service",
    "systemd-networkd.socket",
    "systemd-resolved.service",
    "systemd-timesyncd.service",
    "getty@.service",
    "console-getty.service",
    "serial-getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)
KEY_FILES = (
    "usr/lib/systemd/systemd",
    "usr/sbin/sshd",
    "usr/sbin/nginx",
    "usr/lib/nginx/modules/ngx_stream_module.so",
    "usr/sbin/haproxy",
    "usr/sbin/keepalived",
    "usr/sbin/ipvsadm",
    "usr/bin/python3",
    "usr/bin/curl",
    "usr/bin/systemctl",
    "usr/bin/gcc",
    "usr/bin/make",
)
RECIPE_VERSION = "1"
STAMP = ".kubeha-rootfs-stamp"


def recipe_hash() -> str:
    """A short hash of everything that shapes the tree."""
    recipe = "\n".join(
        [RECIPE_VERSION, SUITE, *PACKAGES, "-", *DISABLED_SERVICES, "-", *MASKED_UNITS]
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def rootfs_path() -> Path:
    """Where the tree for the current recipe lives."""
    return CACHE_DIR / f"rootfs-{recipe_hash()}"


def is_complete(path: Path) -> bool:
    """True when the tree carries the current stamp and every key program."""
    stamp = path / STAMP
    try:
        if stamp.read_text().strip() != recipe_hash():
            return False
    except OSError:
        return False
    return all((path / f).exists() for f in KEY_FILES)


def ensure_rootfs(log: Callable[[str], None] = print) -> Path:
    """Return a complete rootfs for the current recipe, building it if needed (locked)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = rootfs_path()
    started = time.monotonic()

    def build(tmp: Path) -> None:
        log(f"building the lab rootfs (debootstrap {SUITE}, takes a minute or two) into {path}")
        _debootstrap(tmp)
        _customise(tmp)
        (tmp / STAMP).write_text(recipe_hash() + "\n")
        missing = [f for f in KEY_FILES if not (tmp / f).exists()]
        if missing:
            raise LabError(f"the rootfs build is missing {', '.join(missing)}")

    built = cached_build(
        path,
        prefix="rootfs-",
        lock=CACHE_DIR / "rootfs.lock",
        done=is_complete,
        build=build,
        log=log,
    )
    if built:
        log(f"rootfs built in {time.monotonic() - started:.0f} s")
    return path


def host_mirror() -> str | None:
    """The Debian mirror the host's own apt uses for the suite, or None to use the default."""
    candidates: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for file in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in file.read_text(errors="replace").split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
            )
            suites = fields.get("Suites", "").split()
            if "deb" in fields.get("Types", "").split() and SUITE in suites:
                candidates.extend(fields.get("URIs", "").split())
    for file in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        if not file.is_file():
            continue
        for line in file.read_text(errors="replace").splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                candidates.append(words[1])
    for uri in candidates:
        if uri.startswith(("http://", "https://", "file:/")) and "security" not in uri:
            return uri
    return None


def _debootstrap(target: Path) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(target),
    ]
    mirror = host_mirror()
    if mirror:
        argv.append(mirror)
    proc = run(argv, check=False, timeout=1800)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        log_file = target / "debootstrap" / "debootstrap.log"
        if log_file.exists():
            tail += "\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
        raise LabError(f"debootstrap failed ({proc.returncode}):\n{tail}")


def _customise(root: Path) -> None:
    """Quiet the distro services, drop shared host keys, make logins work in a container."""
    run(["systemctl", f"--root={root}", "disable", *DISABLED_SERVICES], check=False)
    run(["systemctl", f"--root={root}", "mask", *MASKED_UNITS], check=False)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Containers cannot always set the audit login uid; a login must not fail on it.
    for pam in ("sshd", "login"):
        pam_file = root / "etc/pam.d" / pam
        if pam_file.exists():
            text = pam_file.read_text().replace(
                "session    required     pam_loginuid.so", "session    optional     pam_loginuid.so"
            )
            pam_file.write_text(text)
    (root / "etc/machine-id").write_text("")
    for stale in ("var/cache/apt/archives", "var/lib/apt/lists"):
        folder = root / stale
        for entry in folder.glob("*.deb") if folder.is_dir() else []:
            entry.unlink()
