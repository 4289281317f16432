"""What the run's pool knows of a node's job (:class:`Job`), and what every node job shares
(:class:`NodeWork`): its plan, its connection, its events, the node's lock from connect to
disconnect, and the ``connect`` phase that opens both.

The lock is taken only when the run gives the job a holder (a dry run does not); it is released
as the job disconnects, after any rollback: that is the job's last step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Protocol

from wizard.engine import node_lock
from wizard.engine.events import Event, Status
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions, NodeResult
from wizard.engine.phase import Outcome, PhaseName
from wizard.engine.remote import RemoteNode
from wizard.render import NodePlan


class Job(Protocol):
    """One node's work, as the pool runs it: ``run()`` never raises for a node's own failure
    (it returns the node's result), ``disconnect()`` releases the node's lock and closes."""

    @property
    def name(self) -> str: ...

    @property
    def changes(self) -> Sized: ...  # what it changed so far: a crash with changes is BROKEN

    def run(self) -> NodeResult: ...

    def disconnect(self) -> None: ...


@dataclass
class NodeWork:
    """The state every node job has; subclasses add their own and their list of phases."""

    plan: NodePlan
    connect: Callable[[], RemoteNode]
    emit: Callable[[Event], None]
    options: ApplyOptions
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: LockHolder | None = None  # the run that takes the node's lock (None: no lock)
    node: RemoteNode | None = None
    locked: bool = False

    @property
    def name(self) -> str:
        return self.plan.node

    def progress(self, phase: PhaseName) -> float | None:
        """The node's progress bar once it reaches ``phase`` (None: not a phase that moves it)."""
        return None

    def event(
        self, phase: PhaseName, status: Status, message: str = "", lines=(), duration=None
    ) -> None:
        progress = 1.0 if phase is PhaseName.DONE else self.progress(phase)
        self.emit(Event(self.name, phase, status, message, tuple(lines), duration, progress))

    def disconnect(self) -> None:
        """Release the node's lock (after any rollback: this is the job's last step), close."""
        node, self.node = self.node, None
        if node is not None:
            try:
                node_lock.release_for(self, node)
                node.transport.close()
            finally:
                self.event(PhaseName.DISCONNECT, Status.OK, "closed")


def connect(job: NodeWork) -> Outcome:
    """Open the node and take its lock for the run (when the run locks nodes)."""
    job.node = job.connect()
    if job.lock is None:
        return Status.OK, "connected", ()
    message = node_lock.take(job.node, job.lock)
    job.locked = True
    return Status.OK, f"connected; {message}", ()
