"""One node's apply: its phases (:data:`~wizard.engine.phases.order.APPLY`: connect, facts,
install, upload, activate, verify, clients, retire), and its result, folded from the records
they kept (:class:`~wizard.engine.job.Record`).

The job never leaves the node half-changed: either every file is new and the proxy verified, or
every file it replaced is back (the upload's undo) and the services re-activated on the previous
config, which is probed at the URL that verified it last
(:func:`~wizard.engine.phases.activate.reactivate`). From connect to disconnect it holds the
node's lock (:mod:`wizard.engine.node_lock`; not in a dry run).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from wizard.engine.events import Status
from wizard.engine.file_changes import Change
from wizard.engine.model import NodeResult, NodeState
from wizard.engine.phase import Phase, PhaseName, progress_marks
from wizard.engine.phases.activate import reactivate
from wizard.engine.phases.facts import FactsFound
from wizard.engine.phases.order import APPLY
from wizard.engine.phases.retire import Retired
from wizard.engine.phases.upload import uploaded
from wizard.engine.runner import ROLLBACK_PROGRESS, run_phases
from wizard.engine.work import ApplyWork


@cache
def _marks(phases: tuple[Phase, ...]) -> dict[str, float]:
    """A node's progress once it reaches a phase of its apply (the deploy screen's bar)."""
    return {**progress_marks(phases), PhaseName.ROLLBACK: ROLLBACK_PROGRESS}


PROGRESS = _marks(APPLY)


@dataclass
class NodeJob(ApplyWork):
    phases: ClassVar[tuple[Phase, ...]] = APPLY

    @property
    def changes(self) -> tuple[Change, ...]:
        """The files this run put in place (the pool: a crash after one leaves it broken)."""
        return uploaded(self).changes

    @property
    def changed(self) -> bool:
        """Something to roll back: a file this run, or a run that died, put in place, a
        kubeconfig repointed, or the old balancer of a take-over stopped."""
        return self.holds_changes

    def progress(self, phase: str) -> float | None:
        return _marks(self.phases).get(phase)

    def run(self) -> NodeResult:
        return run_phases(self, self.phases)

    # --- how it ends ------------------------------------------------------------------------

    def finished(self) -> NodeResult:
        """Every phase passed: verified, unchanged, or (a dry run) planned."""
        if self.options.dry_run:
            return self.result(NodeState.PLANNED, "dry run: nothing changed")
        retire = self.found(Retired)
        if retire is not None and retire.retired:
            self.event(PhaseName.DONE, Status.OK, f"verified; took over from {retire.retired}")
            return self.result(
                NodeState.VERIFIED, f"new config verified; took over from {retire.retired}"
            )
        if self.folded("changed_files") or self.folded("restarted") or self.folded("reloaded"):
            self.event(PhaseName.DONE, Status.OK, "verified")
            return self.result(NodeState.VERIFIED, "new config verified")
        if not self.plan.files:
            self.event(PhaseName.DONE, Status.OK, "verified (nothing to install on this node)")
            return self.result(
                NodeState.UNCHANGED,
                "reaches a ready apiserver through the load balancer; nothing to install here",
            )
        self.event(PhaseName.DONE, Status.OK, "unchanged and verified")
        return self.result(NodeState.UNCHANGED, "already up to date; nothing written or restarted")

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        facts = self.found(FactsFound)
        return NodeResult(
            node=self.name,
            state=state,
            reason=reason,
            changed_files=self.folded("changed_files"),
            restarted=self.folded("restarted"),
            reloaded=self.folded("reloaded"),
            diffs=self.folded("diffs"),
            actions=self.folded("actions"),
            rollback=rollback,
            kubeconfigs=facts.kubeconfigs if facts is not None else (),
        )

    def after_undo(self, problems: list[str]) -> tuple[Status, str]:
        return reactivate(self, problems)
