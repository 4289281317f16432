"""What the run's pool knows of a node's job (:class:`Job`), and what every node job shares
(:class:`NodeWork`): its plan, its connection, its events, the node's lock from connect to
disconnect (taken by the ``connect`` phase, :mod:`wizard.engine.phases.connect`), and the
records its phases kept so far (:class:`Record`, one per phase, each written only by its own
phase and replaced whole, never changed in place).

The lock is taken only when the run gives the job a holder (a dry run does not); it is released
as the job disconnects, after any rollback: that is the job's last step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from wizard.engine import node_lock
from wizard.engine.events import Event, Status
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions, FileDiff, NodeResult
from wizard.engine.phase import PhaseName
from wizard.engine.remote import RemoteNode
from wizard.render import NodePlan


class Job(Protocol):
    """One node's work, as the pool runs it: ``run()`` never raises for a node's own failure
    (it returns the node's result), ``disconnect()`` releases the node's lock and closes."""

    @property
    def name(self) -> str: ...

    @property
    def changes(self) -> Sized: ...  # what it changed so far: a crash with changes is BROKEN

    @property
    def node(self) -> RemoteNode | None: ...  # its connection while it is open

    def run(self) -> NodeResult: ...

    def disconnect(self) -> None: ...


@dataclass(frozen=True)
class Record:
    """What one phase found or did on its node, so far. The node's result is folded from these
    fields of every record, in the order the phases ran (:meth:`NodeWork.folded`); a phase adds
    its own fields. ``to_undo``: the node holds a change of this phase a failure must take back.
    """

    actions: tuple[str, ...] = ()  # what it did (or, in a dry run, would do)
    restarted: tuple[str, ...] = ()  # units (pod/NAME: static pods) it started or restarted
    reloaded: tuple[str, ...] = ()  # units it reloaded
    changed_files: tuple[str, ...] = ()  # files it put in place
    diffs: tuple[FileDiff, ...] = ()  # what it compared

    @property
    def to_undo(self) -> bool:
        return False


R = TypeVar("R", bound=Record)


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
    records: dict[type[Record], Record] = field(default_factory=dict)  # in the order kept

    @property
    def profile_name(self) -> str:
        return self.lock.profile if self.lock is not None else ""

    def found(self, kind: type[R]) -> R | None:
        """The record of the phase that keeps ``kind`` (None: it has not run)."""
        record = self.records.get(kind)
        assert record is None or isinstance(record, kind)
        return record

    def keep(self, record: Record) -> None:
        """A phase's record, replacing its earlier one (a phase keeps it as it goes, so that
        an undo after a failure half-way sees what was done)."""
        self.records[type(record)] = record

    def folded(self, field_name: str) -> tuple:
        """One field of every record kept, joined in the order the phases ran."""
        return tuple(x for record in self.records.values() for x in getattr(record, field_name, ()))

    @property
    def holds_changes(self) -> bool:
        """A record says the node holds a change a failure must take back."""
        return any(record.to_undo for record in self.records.values())

    @property
    def name(self) -> str:
        return self.plan.node

    def progress(self, phase: str) -> float | None:
        """The node's progress bar once it reaches ``phase`` (None: not a phase that moves it)."""
        return None

    def event(self, phase: str, status: Status, message: str = "", lines=(), duration=None) -> None:
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
