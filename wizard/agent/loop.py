"""One round of the agent, kept apart from threads, sockets and clocks so that every rule is
tested by feeding it: check every master of the list, drop drained masters that stopped
answering, take what the cluster settled on (:mod:`wizard.agent.settle`) by the list's rules
(:mod:`wizard.agent.roster`), hand a changed list to the balancer, publish the figures.

The balancer's own failure to take a list (its config check refused it, its reload failed) keeps
the list it runs: the agent keeps its last good list, counts the failure and tries again next
round. A balancer that cannot be asked (stopped, restarting, not yet started) is published as
down; no balancer's failure ends the agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from wizard.agent.check import CheckResult
from wizard.agent.metrics import NodeFigures, render
from wizard.agent.roster import Member, Roster, drop_silent_drainers, next_roster
from wizard.agent.settle import Settle


class BalancerError(RuntimeError):
    """The balancer did not take a list (its message says why, for the journal)."""


class Balancer(Protocol):
    """What the agent asks of a node's balancer (nginx, haproxy, the IPVS table)."""

    def apply(self, roster: Roster) -> None:
        """Run ``roster`` from now on, atomically and without closing a connection; raise
        :class:`BalancerError` and keep the running list when it cannot."""

    def up(self) -> bool:
        """Whether the balancer answers."""

    def connections(self) -> dict[Member, int]:
        """Its open connections to each master."""


@dataclass
class Agent:
    """The agent's state between rounds."""

    roster: Roster
    balancer: Balancer
    checker: Callable[[Member], CheckResult]
    settle: Settle = field(default_factory=Settle)
    log: Callable[[str], None] = print
    wall_clock: Callable[[], float] = time.time
    # Spreads connections back after a return: given the active masters that pass their check,
    # closes a few idle ones on the busiest, returns how many (wizard.agent.rebalance).
    rebalancer: Callable[[tuple[Member, ...]], int] | None = None
    apply_failures: int = 0
    figures: NodeFigures = field(init=False)
    _count_error: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self.settle.start_from(self.roster.active())
        self.figures = NodeFigures(self.roster)

    def observe(self, named: Iterable[Member], now: float) -> None:
        """What the cluster named at ``now`` (a watch event)."""
        self.settle.offer(named, now)

    def round(self, now: float) -> None:
        results = {member: self.checker(member) for member, _ in self.roster.members}
        for member, result in results.items():
            figures = self.figures.figures(member)
            if figures.checked and figures.up != result.up:
                figures.changed_at = self.wall_clock()
            figures.checked = True
            figures.up, figures.check_seconds = result.up, result.seconds
            figures.failures_total += 0 if result.up else 1

        def answers(member: Member) -> bool:
            # Any HTTP answer: a master the cluster dropped because its apiserver is stopping
            # answers /readyz 500 while it still serves its shutdown delay; drained, not cut
            # (taking it out of the list shuts its sessions, requests in flight among them).
            found = results.get(member) or self.checker(member)
            return found.status != 0

        wanted = drop_silent_drainers(self.roster, answers)
        wanted = next_roster(wanted, self.settle.settled(now), answers)
        if wanted is not self.roster:
            self._take(wanted)
        self._count_connections()
        if self.rebalancer is not None and self.figures.balancer_up:
            up = tuple(m for m in self.roster.active() if self.figures.figures(m).up)
            self.figures.rebalance_closed_total += self.rebalancer(up)

    def _count_connections(self) -> None:
        """The balancer's state and its connections per master. A balancer that is down or
        goes away while asked (haproxy stopped, restarting, not yet started) is counted down
        and its last counts kept: the round goes on, the agent never ends on it."""
        up = self.balancer.up()
        if up:
            try:
                counts = self.balancer.connections()
            except BalancerError as error:
                up = False
                text = f"kubeha-agent: the balancer's connections could not be read: {error}"
                if text != self._count_error:  # once, not every round while it lasts
                    self.log(text)
                self._count_error = text
            else:
                self._count_error = ""
                for member, count in counts.items():
                    self.figures.figures(member).connections = count
        self.figures.balancer_up = up

    def _take(self, wanted: Roster) -> None:
        try:
            self.balancer.apply(wanted)
        except BalancerError as error:
            self.apply_failures += 1
            self.log(
                f"kubeha-agent: the balancer kept its list (generation "
                f"{self.roster.generation}): {error}"
            )
            return
        before = {str(m): s.value for m, s in self.roster.members}
        after = {str(m): s.value for m, s in wanted.members}
        self.log(
            f"kubeha-agent: list generation {wanted.generation} from {wanted.source.value}: "
            f"{before} -> {after}"
        )
        self.roster = wanted
        self.figures.roster = wanted

    def scrape(self) -> str:
        return render(self.figures)
