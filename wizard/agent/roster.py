"""The list of masters a node's balancer uses, and the rules it changes by.

The profile's masters are the seed: the list a node starts with, and the one it goes back to
only by the cluster's word. What the cluster says (the ``default/kubernetes`` Endpoints, read by
:mod:`wizard.agent.endpoints`) changes the list, one observation at a time, by these rules:

* no word from the cluster (the watch failed, the agent is new) changes nothing: the last good
  list stays;
* an observation with no master in it changes nothing: the list is never empty, and every
  apiserver leaving the Endpoints at once (all restarting, a lease lost to an etcd stall) is not
  a reason to take every master out;
* a master the cluster names that the list lacks is added, active;
* a master the list has and the cluster no longer names is *drained*, not cut, while it still
  answers its check with any HTTP status (an apiserver shutting down answers /readyz 500 while
  it serves its shutdown delay): the balancer opens no new connection to it and the ones open
  stay until they end or it stops answering at all; then it leaves the list;
* a drained master the cluster names again is active again;
* a change that would leave no active master is not made.

Every change gives the list a new generation (the metrics and ``kubeha status`` show it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    """What the balancer does with a master of the list."""

    ACTIVE = "active"  # new connections go to it
    DRAINING = "draining"  # no new connection; the open ones stay while it answers


class Source(str, Enum):
    """Where the list's members came from last."""

    SEED = "seed"  # the profile's masters
    ENDPOINTS = "endpoints"  # the cluster's default/kubernetes Endpoints


@dataclass(frozen=True, order=True)
class Member:
    """One apiserver, as the balancer dials it."""

    address: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Roster:
    """The balancer's list: each member once, with its state, in a stable order."""

    members: tuple[tuple[Member, State], ...]
    generation: int = 1
    source: Source = Source.SEED

    @classmethod
    def seeded(cls, seed: Iterable[Member]) -> Roster:
        """The list a node starts with: every seed master active (an empty seed is refused)."""
        members = tuple(sorted(set(seed)))
        if not members:
            raise ValueError("the seed list of masters is empty: a balancer needs at least one")
        return cls(tuple((m, State.ACTIVE) for m in members))

    def active(self) -> tuple[Member, ...]:
        return tuple(m for m, state in self.members if state is State.ACTIVE)

    def draining(self) -> tuple[Member, ...]:
        return tuple(m for m, state in self.members if state is State.DRAINING)

    def state_of(self, member: Member) -> State | None:
        return dict(self.members).get(member)


def next_roster(
    current: Roster,
    observed: Iterable[Member] | None,
    answers: Callable[[Member], bool],
) -> Roster:
    """The list after one observation of the cluster's masters (``None``: no word from the
    cluster). ``answers(member)`` says whether a member still passes its check now; it is asked
    only of members the cluster no longer names."""
    if observed is None:
        return current
    named = set(observed)
    if not named:
        return current
    states = dict(current.members)
    changed: dict[Member, State] = {}
    for member in sorted(named):
        changed[member] = State.ACTIVE
    for member in sorted(states):
        if member in named:
            continue
        if answers(member):
            changed[member] = State.DRAINING
        # a member that is not named and does not answer leaves the list
    if not any(state is State.ACTIVE for state in changed.values()):
        return current
    members = tuple(sorted(changed.items()))
    if members == current.members:
        return current
    return Roster(members, current.generation + 1, Source.ENDPOINTS)


def drop_silent_drainers(current: Roster, answers: Callable[[Member], bool]) -> Roster:
    """The list once every draining member that no longer answers has left it (asked between
    observations: a drained master is kept only while it answers)."""
    kept = tuple(
        (member, state)
        for member, state in current.members
        if state is State.ACTIVE or answers(member)
    )
    if kept == current.members:
        return current
    return Roster(kept, current.generation + 1, current.source)
