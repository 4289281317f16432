"""An operator's kube-nginx binary judged by its ELF header alone: read, never executed.

A dry run (and validate, render, the wizard's preview) runs nothing a profile names; the real
apply reads the header first and refuses what is not a Linux executable for a machine kubeha
nodes run, before it runs anything.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Literal

MAGIC = b"\x7fELF"
HEADER_BYTES = 20  # e_ident (16), e_type (2), e_machine (2)
CLASSES = {1: "32-bit", 2: "64-bit"}
TYPES = {2: "executable", 3: "shared object or position-independent executable"}

# e_machine -> (name, the `uname -m` values of a host that runs it)
MACHINES: dict[int, tuple[str, tuple[str, ...]]] = {
    3: ("i386", ("i386", "i486", "i586", "i686", "x86_64")),
    62: ("x86-64", ("x86_64",)),
    183: ("aarch64", ("aarch64", "arm64")),
    40: ("arm", ("armv7l", "armv6l", "armv8l", "aarch64")),
    21: ("ppc64", ("ppc64", "ppc64le")),
    22: ("s390x", ("s390x",)),
    243: ("riscv", ("riscv64",)),
}


class NotAnExecutable(ValueError):
    """The file is not an ELF executable for a machine kubeha knows; the text says why."""


@dataclass(frozen=True)
class ElfHeader:
    bits: str  # "32-bit" or "64-bit"
    machine: int
    machine_name: str
    little_endian: bool

    def runs_on(self, uname_machine: str) -> bool:
        """True when a host whose ``uname -m`` is ``uname_machine`` runs this binary."""
        hosts = MACHINES.get(self.machine, ("", ()))[1]
        if self.machine == 21:  # ppc64: the byte order tells ppc64le from ppc64
            hosts = ("ppc64le",) if self.little_endian else ("ppc64",)
        return uname_machine in hosts

    def describe(self) -> str:
        return f"ELF {self.bits} {self.machine_name}"


def read_header(data: bytes) -> ElfHeader:
    """The header of ``data`` (a file's first bytes at least); raises :class:`NotAnExecutable`."""
    if data[:4] != MAGIC:
        start = data[:2]
        what = "a script (it starts with #!)" if start == b"#!" else "not an ELF file"
        raise NotAnExecutable(f"{what}; expected a Linux ELF executable (an nginx binary)")
    if len(data) < HEADER_BYTES:
        raise NotAnExecutable("a truncated ELF header; expected a whole ELF executable")
    bits = CLASSES.get(data[4])
    if bits is None or data[5] not in (1, 2):
        raise NotAnExecutable(
            f"an ELF file of unknown class {data[4]} or byte order {data[5]}; expected 32- or 64-bit"
        )
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    kind = int.from_bytes(data[16:18], order)
    machine = int.from_bytes(data[18:20], order)
    if kind not in TYPES:
        raise NotAnExecutable(
            f"an ELF file of type {kind} (not a program: an object file or a core dump?); "
            "expected an executable"
        )
    if machine not in MACHINES:
        raise NotAnExecutable(
            f"an ELF executable for machine {machine}, which no Linux node kubeha supports runs; "
            f"expected one of {', '.join(name for name, _ in MACHINES.values())}"
        )
    return ElfHeader(bits, machine, MACHINES[machine][0], order == "little")


def this_machine() -> str:
    """This machine's ``uname -m``."""
    return platform.machine()
