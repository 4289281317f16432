"""Master operations on a profile: add, remove or replace one master (``kubeha masters``).

Each returns the new profile and a one-line description; none touches a node or a file. The
rules an operator expects: a master's name and address are unique; the profile keeps at least
one master (removing the last is refused: every balancer would be left with nothing); the
count stays within :data:`wizard.profile.MAX_MASTERS`. What the nodes need is worked out from
the result by the command (:mod:`wizard.commands.masters_command`).
"""

from __future__ import annotations

import dataclasses

from wizard.errors import UsageError
from wizard.profile import MAX_MASTERS, Master, Profile
from wizard.textsafe import printable


class MasterChangeError(UsageError):
    """A master operation the profile cannot take (the message names the field and value)."""


def _find(profile: Profile, name: str) -> int:
    for index, master in enumerate(profile.masters):
        if master.name == name:
            return index
    names = ", ".join(m.name for m in profile.masters)
    raise MasterChangeError(f"--master: '{printable(name)}': expected one of {names}")


def _check_new(profile: Profile, new: Master, leaving: str = "") -> None:
    for node in profile.all_nodes():
        if node.name == leaving:
            continue
        if node.name == new.name:
            raise MasterChangeError(f"--name: '{printable(new.name)}': a node already has it")
        if node.address == new.address:
            raise MasterChangeError(
                f"--address: '{printable(new.address)}': node '{printable(node.name)}' has it"
            )


def add_master(profile: Profile, new: Master) -> tuple[Profile, str]:
    if len(profile.masters) >= MAX_MASTERS:
        raise MasterChangeError(
            f"masters: {len(profile.masters)}: expected at most {MAX_MASTERS}; remove one first"
        )
    _check_new(profile, new)
    changed = dataclasses.replace(profile, masters=(*profile.masters, new))
    return changed, f"add master {new.name} ({new.address}:{new.apiserver_port})"


def remove_master(profile: Profile, name: str) -> tuple[Profile, str]:
    index = _find(profile, name)
    if len(profile.masters) == 1:
        raise MasterChangeError(
            f"--master: '{printable(name)}': the only master; a balancer needs at least one "
            "(add its replacement first, or use replace)"
        )
    left = profile.masters[:index] + profile.masters[index + 1 :]
    return dataclasses.replace(profile, masters=left), f"remove master {name}"


def replace_master(profile: Profile, old: str, new: Master) -> tuple[Profile, str]:
    index = _find(profile, old)
    _check_new(profile, new, leaving=old)
    masters = (*profile.masters[:index], new, *profile.masters[index + 1 :])
    return (
        dataclasses.replace(profile, masters=masters),
        f"replace master {old} with {new.name} ({new.address}:{new.apiserver_port})",
    )
