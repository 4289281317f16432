"""The distro packages a strategy needs, each named once per distro family beside the program
that shows it is installed: the engine installs by these names and looks for these programs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    """The distro families kubeha installs packages on (``Facts.family``)."""

    DEBIAN = "debian"
    REDHAT = "redhat"


@dataclass(frozen=True)
class Package:
    """One program a node needs and the packages that bring it, per distro family."""

    binary: str  # the program whose presence on the node shows it is installed
    debian: tuple[str, ...]
    redhat: tuple[str, ...]

    def names(self, family: str) -> tuple[str, ...]:
        """The packages to install on ``family``; Debian's names for a family kubeha does not
        install on (only ever shown, never installed)."""
        return self.redhat if family == Family.REDHAT else self.debian


def same_name(name: str) -> Package:
    """A program packaged under its own name on every family."""
    return Package(name, (name,), (name,))


CURL = same_name("curl")  # every strategy's verify and health checks use it
