"""One node's uninstall (:data:`~wizard.engine.phases.order.UNINSTALL`: connect, the clients
pointed back when the profile repoints them, then the removal,
:mod:`wizard.engine.phases.remove`), its result folded from the records its phases kept. Holds
the node's lock from connect to disconnect, as an apply does; walked by the same runner
(:mod:`wizard.engine.runner`).

When the profile repoints clients, the run points every node's clients back first, as a wave of
its own (:class:`ClientsFirstJob`), and removes load balancers only once every node's clients
are off them: a worker's kubelet reaches the masters' VIP, and must not lose it while it waits
for its own turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from wizard.engine.events import Status
from wizard.engine.model import NodeResult, NodeState
from wizard.engine.phase import Phase, PhaseName, progress_marks
from wizard.engine.phases.order import CLIENTS_FIRST, UNINSTALL
from wizard.engine.runner import run_phases
from wizard.engine.work import UninstallWork

__all__ = ["CLIENTS_FIRST", "UNINSTALL", "ClientsFirstJob", "UninstallJob"]

_marks = cache(progress_marks)
PROGRESS = _marks(UNINSTALL)


@dataclass
class UninstallJob(UninstallWork):
    phases: ClassVar[tuple[Phase, ...]] = UNINSTALL

    @property
    def changes(self) -> tuple[str, ...]:
        """The files restored or removed (kubeconfigs pointed back among them)."""
        return self.folded("changed_files")

    @property
    def changed(self) -> bool:
        return self.holds_changes

    def progress(self, phase: str) -> float | None:
        return _marks(self.phases).get(phase)

    def run(self) -> NodeResult:
        return run_phases(self, self.phases)

    def finished(self) -> NodeResult:
        if self.problems:
            self.event(PhaseName.DONE, Status.FAILED, f"failed: {self.message}")
            return NodeResult(self.name, NodeState.BROKEN, self.message, self.changes)
        self.event(PhaseName.DONE, Status.OK, self.message)
        return NodeResult(
            self.name,
            NodeState.REMOVED,
            self.message,
            self.changes,
            actions=self.folded("lines"),
        )

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        return NodeResult(self.name, state, reason, self.changes, rollback=rollback)

    def after_undo(self, problems: list[str]) -> tuple[Status, str]:  # no phase has an undo
        return Status.FAILED, "; ".join(problems) or "nothing to undo"


@dataclass
class ClientsFirstJob(UninstallJob):
    """An uninstall's first wave on one node: its kubeconfigs pointed back, nothing removed.
    Its result is the wave's; the node's own ``done`` comes with its removal."""

    phases: ClassVar[tuple[Phase, ...]] = CLIENTS_FIRST

    def finished(self) -> NodeResult:
        if self.problems:
            return NodeResult(self.name, NodeState.BROKEN, self.message, self.changes)
        return NodeResult(self.name, NodeState.REMOVED, "clients pointed back", self.changes)
