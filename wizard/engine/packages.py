"""Package names, in one place: the binary that shows a package is installed, and a package's
name on each distro family where it differs from Debian's (the name the plans use)."""

from __future__ import annotations

from collections.abc import Iterable, Set

# The binary whose presence shows the package is installed; None: a module with no binary of
# its own, installed with the program it extends (MODULE_OF). A package not listed: its name.
BINARY: dict[str, str | None] = {
    "nginx-light": "nginx",
    "libnginx-mod-stream": None,
    "haproxy": "haproxy",
    "keepalived": "keepalived",
    "ipvsadm": "ipvsadm",
    "curl": "curl",
}
MODULE_OF = {"libnginx-mod-stream": "nginx-light"}

# The names on a family that differ from Debian's.
NAMES = {"redhat": {"nginx-light": "nginx", "libnginx-mod-stream": "nginx-mod-stream"}}


def binary_for(package: str) -> str | None:
    """The binary that shows ``package`` is installed (None: it has none of its own)."""
    return BINARY.get(package, package)


def name_on(family: str, package: str) -> str:
    """``package`` (Debian's name) as the package manager of ``family`` calls it."""
    return NAMES.get(family, {}).get(package, package)


def missing(packages: Iterable[str], binaries: Set[str]) -> list[str]:
    """The packages to install on a node that has ``binaries``: those whose binary is absent,
    and a module along with its missing program."""
    wanted = list(packages)
    absent = [p for p in wanted if (b := binary_for(p)) is not None and b not in binaries]
    modules = [m for m in wanted if MODULE_OF.get(m) in absent and m not in absent]
    return absent + modules
