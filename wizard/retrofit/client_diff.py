"""The one-line diff of a kubeconfig that ``[clients] repoint`` would change, for a preview:
from a node's facts (the ``server:`` it names now) when a dry run read them, else from the plan
alone, with ``<current>`` where the node's server would be.

Which servers change is the engine's rule (:func:`wizard.retrofit.kubeconfig.repoint`): those
that name a master (by address or name, on its apiserver port); any other stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from wizard.profile import Profile
from wizard.retrofit.kubeconfig import KubeconfigNow, endpoint

CURRENT = "<current>"  # the server a kubeconfig names now: only a node knows it
ARROW = "→"


def old_endpoints(profile: Profile) -> frozenset[tuple[str, int]]:
    """The (host, port) of every master, by address and by name: the servers repointed."""
    old: set[tuple[str, int]] = set()
    for master in profile.masters:
        old.add((master.address.lower(), master.apiserver_port))
        old.add((master.name.lower(), master.apiserver_port))
    return frozenset(old)


def planned_line(server_url: str) -> str:
    """The diff before any node was read: ``server: <current> → server: URL``."""
    return f"server: {CURRENT} {ARROW} server: {server_url}"


def node_line(now: KubeconfigNow, server_url: str, old: frozenset[tuple[str, int]]) -> str:
    """What the apply would do to ``now`` on its node, in one line."""
    if not now.present:
        return "not on this node: left alone"
    moving = [s for s in now.servers if s != server_url and endpoint(s) in old]
    if moving:
        return f"server: {', '.join(dict.fromkeys(moving))} {ARROW} server: {server_url}"
    if now.servers and all(s == server_url for s in now.servers):
        return f"server: {server_url} (already: unchanged)"
    others = [s for s in now.servers if s != server_url]
    if others:
        return f"left as is: {', '.join(others)} names no master"
    return "names no server: left alone"


def summary_line(
    server_url: str, old: frozenset[tuple[str, int]], found: Mapping[str, KubeconfigNow | None]
) -> str:
    """One line for a kubeconfig across the nodes (``found``: node -> its facts, None where
    they were not read): the plan's line before any node was read, else the nodes' line when
    they agree."""
    read = [now for now in found.values() if now is not None]
    if not read:
        return planned_line(server_url)
    lines = list(dict.fromkeys(node_line(now, server_url, old) for now in read if now.present))
    if not lines:
        return "not on any node: left alone"
    if len(lines) == 1 and len(read) == len(found):
        return lines[0]
    return f"{len(lines)} different line(s) across the nodes: select it to read each"


def per_node_lines(
    server_url: str, old: frozenset[tuple[str, int]], found: Mapping[str, KubeconfigNow | None]
) -> list[str]:
    """``node: line`` for each node; a node whose facts were not read gets the plan's line."""
    return [
        f"{node}: "
        + (
            node_line(now, server_url, old)
            if now is not None
            else f"{planned_line(server_url)} (not read on this node)"
        )
        for node, now in found.items()
    ]
