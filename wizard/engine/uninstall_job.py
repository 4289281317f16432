"""One node's uninstall (:data:`UNINSTALL`: connect, the clients pointed back when the profile
repoints them, then the removal): stop kubeha's services,
put back every file kubeha replaced (or remove the ones it created), and return each unit to the
state it had before kubeha first touched it. Holds the node's lock from connect to disconnect,
as an apply does; walked by the same runner (:mod:`wizard.engine.runner`).

The removal is one phase and has no undo: a problem on one file or unit is reported and the
rest is still removed; the node is then ``broken`` and says why.

When the profile repoints clients, the run points every node's clients back first, as a wave of
its own (:class:`ClientsFirstJob`), and removes load balancers only once every node's clients
are off them: a worker's kubelet reaches the masters' VIP, and must not lose it while it waits
for its own turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from wizard.engine.clients import ClientPlan, has_clients, point_clients_back
from wizard.engine.events import Status
from wizard.engine.job import NodeWork, connect
from wizard.engine.model import NodeResult, NodeState
from wizard.engine.node_journal import JOURNAL
from wizard.engine.node_manifest import MANIFEST
from wizard.engine.phase import Outcome, Phase, PhaseName, progress_marks
from wizard.engine.remote import VERIFIED_URL_FILE
from wizard.engine.runner import run_phases


def remove(job: UninstallJob) -> Outcome:
    """Stop the services, run the plan's clean-up, put back the files, units as they were."""
    node = job.node
    assert node is not None
    lines, problems = job.lines, job.problems
    for unit in job.plan.services:
        node.systemctl("stop", unit)
    for argv in job.plan.cleanup:  # e.g. ipvs: the virtual server and the VIP
        if node.run(list(argv), timeout=30).ok:
            lines.append(f"ran {' '.join(argv)}")
    for rendered in reversed(job.plan.files):
        try:
            outcome = node.restore_original(rendered.path)
        except RuntimeError as exc:
            problems.append(str(exc))
            continue
        if outcome != "kept":
            lines.append(f"{outcome} {rendered.path}")
            job.changes.append(rendered.path)
    if any(p.startswith("/etc/systemd/system/") for p in job.changes):
        node.systemctl("daemon-reload")
    for unit in job.plan.services:
        node.systemctl("reset-failed", unit)  # no "failed" left behind by a unit now gone
        before = node.recall_unit_state(unit)
        if before is None:
            continue
        enabled, active = before
        if node.systemctl("cat", unit, timeout=20).ok:
            node.systemctl("enable" if enabled else "disable", unit)
            if active and not node.systemctl("restart", unit).ok:
                problems.append(f"{unit} did not start on its original config")
        lines.append(
            f"{unit}: back to {'enabled' if enabled else 'disabled'}, {'running' if active else 'stopped'}"
        )
        node.forget_unit_state(unit)
    # A change an interrupted run left in the journal is undone with everything else.
    node.run(["rm", "-f", VERIFIED_URL_FILE, JOURNAL, MANIFEST])
    status = Status.FAILED if problems else Status.CHANGED if lines else Status.UNCHANGED
    return status, job.message, tuple(lines)


# The removal's events are the ``activate`` phase's, as they always were (docs/JSON.md).
UNINSTALL: tuple[Phase[UninstallJob], ...] = (
    Phase(PhaseName.CONNECT, 0.2, run=connect),
    Phase(PhaseName.CLIENTS, 0.0, run=point_clients_back, applies=has_clients),
    Phase(PhaseName.ACTIVATE, 0.2, run=remove),
)
PROGRESS = progress_marks(UNINSTALL)


@dataclass
class UninstallJob(NodeWork):
    phases: ClassVar[tuple[Phase, ...]] = UNINSTALL

    changes: list[str] = field(default_factory=list)  # the files restored or removed
    lines: list[str] = field(default_factory=list)  # what was done
    problems: list[str] = field(default_factory=list)
    clients: ClientPlan | None = None  # kubeconfigs to point back first ([clients] repoint)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def message(self) -> str:
        return "; ".join(self.problems) or (
            "restored" if self.lines else "nothing of kubeha's found"
        )

    def progress(self, phase: PhaseName) -> float | None:
        return PROGRESS.get(phase)

    def run(self) -> NodeResult:
        return run_phases(self, self.phases)

    def finished(self) -> NodeResult:
        if self.problems:
            self.event(PhaseName.DONE, Status.FAILED, f"failed: {self.message}")
            return NodeResult(self.name, NodeState.BROKEN, self.message, tuple(self.changes))
        self.event(PhaseName.DONE, Status.OK, self.message)
        return NodeResult(
            self.name,
            NodeState.REMOVED,
            self.message,
            tuple(self.changes),
            actions=tuple(self.lines),
        )

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        return NodeResult(self.name, state, reason, tuple(self.changes), rollback=rollback)

    def after_undo(self, problems: list[str]) -> tuple[Status, str]:  # no phase has an undo
        return Status.FAILED, "; ".join(problems) or "nothing to undo"


CLIENTS_FIRST: tuple[Phase[UninstallJob], ...] = UNINSTALL[:2]  # connect, clients


@dataclass
class ClientsFirstJob(UninstallJob):
    """An uninstall's first wave on one node: its kubeconfigs pointed back, nothing removed.
    Its result is the wave's; the node's own ``done`` comes with its removal."""

    phases: ClassVar[tuple[Phase, ...]] = CLIENTS_FIRST

    def finished(self) -> NodeResult:
        if self.problems:
            return NodeResult(self.name, NodeState.BROKEN, self.message, tuple(self.changes))
        return NodeResult(self.name, NodeState.REMOVED, "clients pointed back", tuple(self.changes))
