"""The one-line diff of a kubeconfig that ``[clients] repoint`` would change, for a preview:
from a node's facts (the ``server:`` it names now) when a dry run read them, else from the plan
alone, with ``<current>`` where the node's server would be.

Which servers change is the engine's rule (:func:`wizard.retrofit.kubeconfig.repoint`): those
that name a master (by address or name, on its apiserver port); any other stays as it is.
"""

from __future__ import annotations

from wizard.engine.model import KubeconfigNow
from wizard.profile import Profile
from wizard.retrofit.kubeconfig import endpoint

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
