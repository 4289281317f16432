"""What changed between two reads of the fleet (``kubeha status --json --follow``): one record
per change a person watching a master operation wants to see as it happens: a node that could
or could not be read, its balancer going down or up, a master entering or leaving a node's list,
going down or up, starting or stopping to drain. Connections and check times move all the time:
they are in each read, not changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wizard.status.fleet import MasterView, NodeStatus


@dataclass(frozen=True)
class Change:
    """One change on one node (``master`` empty for the node itself)."""

    node: str
    # read, unread, balancer-up, balancer-down, added, removed, up, down, draining, serving
    what: str
    master: str = ""
    detail: str = ""  # the node's error for ``unread``; the list's generation for added/removed


def changes(before: Sequence[NodeStatus], after: Sequence[NodeStatus]) -> list[Change]:
    """The changes from ``before`` to ``after``, node by node in ``after``'s order."""
    old = {s.node: s for s in before}
    found: list[Change] = []
    for now in after:
        was = old.get(now.node)
        if was is None:
            continue  # a node first seen: the first read says all of it
        found.extend(_node_changes(was, now))
    return found


def _node_changes(was: NodeStatus, now: NodeStatus) -> list[Change]:
    if now.error:
        return [] if was.error else [Change(now.node, "unread", detail=now.error)]
    found = [] if not was.error else [Change(now.node, "read")]
    if was.error:  # nothing to compare the masters with
        return found
    if was.balancer_up != now.balancer_up:
        found.append(Change(now.node, "balancer-up" if now.balancer_up else "balancer-down"))
    before = {m.master: m for m in was.masters}
    after = {m.master: m for m in now.masters}
    generation = f"generation {now.generation}"
    for master, view in after.items():
        old = before.get(master)
        if old is None:
            found.append(Change(now.node, "added", master, generation))
            found.extend(Change(now.node, w, master) for w in _states(view) if w != "up")
            continue
        found.extend(Change(now.node, w, master) for w in _moves(old, view))
    found.extend(
        Change(now.node, "removed", master, generation) for master in before if master not in after
    )
    return found


def _states(view: MasterView) -> list[str]:
    return ["up" if view.up else "down"] + (["draining"] if view.draining else [])


def _moves(old: MasterView, new: MasterView) -> list[str]:
    moves = []
    if old.up != new.up:
        moves.append("up" if new.up else "down")
    if old.draining != new.draining:
        moves.append("draining" if new.draining else "serving")
    return moves
