"""local-nginx's ``[install]`` table: how kube-nginx gets on the node (the distro's package, a
source build by kubeha, or the operator's own binary), and its checks. Only local-nginx has it:
the core profile keeps no strategy's fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from wizard.field_checks import ABS_PATH_RE, local_file, normal_folder
from wizard.problems import Problem, error
from wizard.profile import Profile
from wizard.strategies.fields import described

TABLE = "install"
CONFIGURE_FLAG_RE = re.compile(r"\A--[a-z0-9_-]+(?:=[A-Za-z0-9/_.,+-]*)?\Z")
VERSION_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9.+~:-]{0,60}\Z")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")


class InstallMethod(StrEnum):
    """How kube-nginx gets on the node (a profile keeps the plain string)."""

    PACKAGE = "package"  # the distro's package
    SOURCE = "source"  # built by kubeha
    BINARY = "binary"  # the operator's own binary


INSTALL_METHODS = tuple(InstallMethod)
BUILD_HOSTS_LOCAL = "local"
# The order of the wizard's Install rows (the table's own order is the order a profile is written).
FORM_ORDER = (
    "method",
    "prefix",
    "source_package_version",
    "source_tarball",
    "source_sha256",
    "build_host",
    "binary_path",
)


@dataclass(frozen=True)
class Install:
    """The ``[install]`` table."""

    method: str = described(
        InstallMethod.PACKAGE.value,
        "Install method",
        "package: distro nginx · source: build · binary: yours",
        choices=INSTALL_METHODS,
    )
    prefix: str = described(
        "/opt/kube-nginx", "Prefix", "where a source or binary kube-nginx lives"
    )
    # method = "source"
    source_tarball: str | None = described(
        None, "Source tarball", "source: or a local nginx tarball"
    )
    source_package_version: str | None = described(
        None, "Source version", "source: Debian nginx source package version to build"
    )
    source_sha256: str | None = described(
        None, "Source sha256", "source: the tarball's (or the package's .dsc) sha256"
    )
    configure_flags: tuple[str, ...] = described(
        ("--with-stream", "--without-http"), "Configure flags", "source: nginx's ./configure flags"
    )
    build_host: str = described(BUILD_HOSTS_LOCAL, "Build host", "source: 'local' or a node's name")
    # method = "binary"
    binary_path: str | None = described(
        None, "Binary path", "binary: a ready kube-nginx (stream module)"
    )


def check_install(inst: Install, profile: Profile) -> list[Problem]:
    """Every problem of the ``[install]`` table (a build host is ``local`` or a node of
    ``profile``)."""
    problems: list[Problem] = []
    node_names = {node.name for node in profile.all_nodes()}
    if inst.method not in INSTALL_METHODS:
        problems.append(
            error("install.method", inst.method, f"expected one of {', '.join(INSTALL_METHODS)}")
        )
    if not ABS_PATH_RE.fullmatch(inst.prefix) or ".." in inst.prefix.split("/"):
        problems.append(
            error(
                "install.prefix", inst.prefix, "expected an absolute folder such as /opt/kube-nginx"
            )
        )
    elif normal_folder(inst.prefix) == "/":
        problems.append(
            error(
                "install.prefix",
                inst.prefix,
                "is the root folder '/': expected a folder of its own such as /opt/kube-nginx",
            )
        )
    for index, flag in enumerate(inst.configure_flags):
        if not CONFIGURE_FLAG_RE.fullmatch(flag):
            problems.append(
                error(
                    f"install.configure_flags[{index}]",
                    flag,
                    "expected a configure flag such as --with-stream",
                )
            )
    if inst.build_host != BUILD_HOSTS_LOCAL and inst.build_host not in node_names:
        problems.append(
            error(
                "install.build_host",
                inst.build_host,
                "expected 'local' or the name of a node in this profile",
            )
        )
    if inst.method == InstallMethod.SOURCE:
        if not inst.source_tarball and not inst.source_package_version:
            problems.append(
                error(
                    "install.source_tarball",
                    None,
                    "method 'source' needs source_tarball or source_package_version",
                )
            )
        if inst.source_package_version is not None and not VERSION_RE.fullmatch(
            inst.source_package_version
        ):
            problems.append(
                error(
                    "install.source_package_version",
                    inst.source_package_version,
                    "expected a Debian version such as 1.22.1-9+deb12u1",
                )
            )
        if inst.source_sha256 is not None and not SHA256_RE.fullmatch(inst.source_sha256):
            problems.append(
                error(
                    "install.source_sha256", inst.source_sha256, "expected 64 lower-case hex digits"
                )
            )
        if inst.source_tarball is not None:
            local_file(problems, "install.source_tarball", inst.source_tarball)
    if inst.method == InstallMethod.BINARY:
        if not inst.binary_path:
            problems.append(
                error(
                    "install.binary_path",
                    None,
                    "method 'binary' needs the path of a kube-nginx binary",
                )
            )
        else:
            local_file(problems, "install.binary_path", inst.binary_path)
    return problems
