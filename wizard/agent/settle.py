"""How long the cluster must say a thing before the list follows it (debouncing).

A master the ``default/kubernetes`` Endpoints name must stay named for ``add_after_s`` before
the balancer takes it; one they stop naming must stay unnamed for ``remove_after_s`` before it
is drained. A member whose presence flaps faster than that keeps the state it had: a flapping
Endpoints object (apiservers fighting over the lease, an etcd stall) moves nothing. Adding is
quick (a new master should carry load within seconds), removing is slow (a master that drops out
of the Endpoints for a moment is still a master).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wizard.agent.roster import Member


@dataclass
class _Seen:
    in_effect: bool
    named: bool
    since: float  # when `named` last changed


@dataclass
class Settle:
    """The settled view of what the cluster names, fed one observation at a time."""

    add_after_s: float = 1.0
    remove_after_s: float = 10.0
    _members: dict[Member, _Seen] = field(default_factory=dict)
    _observed: bool = False

    def start_from(self, members: Iterable[Member]) -> None:
        """Members already in effect (the list the node has): they leave only by absence."""
        for member in members:
            self._members[member] = _Seen(in_effect=True, named=True, since=float("-inf"))

    def offer(self, named: Iterable[Member], now: float) -> None:
        """One observation of the members the cluster names, at ``now`` (monotonic seconds)."""
        self._observed = True
        current = set(named)
        for member in current:
            seen = self._members.get(member)
            if seen is None:
                self._members[member] = _Seen(in_effect=False, named=True, since=now)
            elif not seen.named:
                seen.named, seen.since = True, now
        for member, seen in self._members.items():
            if member not in current and seen.named:
                seen.named, seen.since = False, now

    def settled(self, now: float) -> frozenset[Member] | None:
        """The members in effect at ``now``; None before the first observation."""
        if not self._observed:
            return None
        for member, seen in list(self._members.items()):
            held = now - seen.since
            if seen.named and not seen.in_effect and held >= self.add_after_s:
                seen.in_effect = True
            elif not seen.named and seen.in_effect and held >= self.remove_after_s:
                seen.in_effect = False
            if not seen.named and not seen.in_effect:
                del self._members[member]
        return frozenset(m for m, seen in self._members.items() if seen.in_effect)

    def next_change_in(self, now: float) -> float | None:
        """Seconds until a pending member settles (for the agent's sleep); None if none is."""
        waits = [
            (self.add_after_s if seen.named else self.remove_after_s) - (now - seen.since)
            for seen in self._members.values()
            if seen.named != seen.in_effect
        ]
        return max(0.0, min(waits)) if waits else None
