"""One run as its phases see it (:class:`Run`): the plan, the options, the run's lock holder and
state, the node jobs and their results. The run's phases (:mod:`wizard.engine.run_phases.order`)
are walked by the same runner as a node's (:func:`wizard.engine.runner.walk`); each reports its
own events, so the run's :meth:`Run.event` is silent, and one that stops the run raises
:class:`~wizard.engine.phase.RunStopped`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine.events import Event, Status
from wizard.engine.job import Job
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions, NodeResult
from wizard.engine.phase import RunMode
from wizard.engine.runstate import RunState
from wizard.engine.shared_connections import SharedConnections
from wizard.profile import Profile
from wizard.render import RenderPlan
from wizard.strategies import registry
from wizard.strategies.base import Strategy


@dataclass
class Run:
    """One run, as its phases see it."""

    plan: RenderPlan
    options: ApplyOptions
    mode: RunMode
    cancel: threading.Event
    emit: Callable[[Event], None]
    open_for: SharedConnections  # a preflight's connection is handed to the node's job
    holder: LockHolder
    state: RunState
    selected: list[str]
    jobs: dict[str, Job] = field(default_factory=dict)
    # An uninstall that repoints clients: every node's clients pointed back first, a wave of its own.
    clients_first: dict[str, Job] = field(default_factory=dict)
    results: dict[str, NodeResult] = field(default_factory=dict)
    cluster_problems: list[str] = field(default_factory=list)
    # The nodes that run checks and ask in their own job (the auth preflight asked the others).
    ask_in_job: set[str] = field(default_factory=set)
    # kubeadm's objects ([clients] repoint): (object and field, diff or why unchanged).
    objects: list[tuple[str, str]] = field(default_factory=list)
    began: float | None = None  # when the first node started
    opened: list = field(default_factory=list)  # closed on every way out

    @property
    def profile(self) -> Profile:
        return self.plan.profile

    @property
    def strategy(self) -> Strategy:
        return registry.get(self.plan.profile.strategy)

    @property
    def uninstall(self) -> bool:
        return self.mode is RunMode.UNINSTALL

    @functools.cached_property
    def waves(self) -> list[list[str]]:
        """The selected nodes in the waves the run changes them (the strategy's: haproxy-
        keepalived's load-balancer carriers first; an uninstall runs every node at once),
        asked of the strategy once."""
        if self.uninstall:
            return [list(self.selected)]
        return self.strategy.waves(self.plan, list(self.selected))

    def event(self, phase: str, status: Status, message: str = "", lines=(), duration=None) -> None:
        """Silent: each of the run's phases reports its own events (docs/JSON.md)."""
