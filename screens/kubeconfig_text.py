"""The Clients step's text format: one kubeconfig per line, ``PATH [UNIT or pod:NAME]``
(``UNIT``: the systemd service that reads it at start; ``pod:NAME``: the kubeadm static pod
that does; left out for none).

An empty profile list means kubeadm's kubeconfigs (:data:`wizard.profile.KUBEADM_KUBECONFIGS`),
so the step shows those when the profile lists none, and a list equal to them is stored empty
again: a profile that left the list out keeps leaving it out. A line that is no kubeconfig at
all is a Problem named by its line, as the operator sees it (``Kubeconfigs line 3``); the
validator's problems (``clients.kubeconfigs[2].path``) are named the same way (:func:`by_line`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wizard.problems import Problem, error
from wizard.profile import KUBEADM_KUBECONFIGS, ClientKubeconfig

TITLE = "Kubeconfigs"
EXAMPLE = "/etc/kubernetes/kubelet.conf kubelet.service"
_INDEXED = re.compile(r"clients\.kubeconfigs\[(\d+)\]\.?(.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class ParsedKubeconfigs:
    kubeconfigs: tuple[ClientKubeconfig, ...]
    lines: tuple[int, ...]  # the 1-based line of each kubeconfig
    problems: tuple[Problem, ...]  # lines that are no kubeconfig


def shown(kubeconfigs: Sequence[ClientKubeconfig]) -> tuple[ClientKubeconfig, ...]:
    """What the step lists for a profile's kubeconfigs: kubeadm's when it names none."""
    return tuple(kubeconfigs) or KUBEADM_KUBECONFIGS


def stored(kubeconfigs: Sequence[ClientKubeconfig]) -> tuple[ClientKubeconfig, ...]:
    """What the profile keeps: nothing when the list is kubeadm's (its default)."""
    return () if tuple(kubeconfigs) == KUBEADM_KUBECONFIGS else tuple(kubeconfigs)


POD = "pod:"  # the second word names a kubeadm static pod instead of a unit


def _owner(k: ClientKubeconfig) -> str:
    return f"{POD}{k.pod}" if k.pod else k.unit


def format_kubeconfigs(kubeconfigs: Sequence[ClientKubeconfig]) -> str:
    return "\n".join(f"{k.path} {_owner(k)}".rstrip() for k in kubeconfigs)


def parse_kubeconfigs(text: str) -> ParsedKubeconfigs:
    """Each non-empty line as a kubeconfig; a line of more than two words is a problem."""
    found: list[ClientKubeconfig] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) > 2:
            problems.append(
                error(
                    f"{TITLE} line {number}",
                    line.strip(),
                    f"expected PATH [UNIT or pod:NAME], e.g. {EXAMPLE} (one kubeconfig per line)",
                )
            )
            continue
        owner = words[1] if len(words) == 2 else ""
        if owner.startswith(POD):
            found.append(ClientKubeconfig(words[0], pod=owner.removeprefix(POD)))
        else:
            found.append(ClientKubeconfig(words[0], owner))
        lines.append(number)
    return ParsedKubeconfigs(tuple(found), tuple(lines), tuple(problems))


def by_line(field: str, lines: Sequence[int]) -> str:
    """``clients.kubeconfigs[2].path`` as ``Kubeconfigs line 3 path`` (``lines``: the line of
    each index); any other field, or an index past the text, stays as it is."""
    match = _INDEXED.match(field)
    if match is None:
        return TITLE if field == "clients.kubeconfigs" else field
    index, rest = int(match.group(1)), match.group(2)
    if index >= len(lines):
        return field
    return f"{TITLE} line {lines[index]}" + (f" {rest}" if rest else "")
