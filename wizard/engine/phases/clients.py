"""``clients`` (only with ``[clients] repoint = true``): each listed kubeconfig on the node
repointed to the load balancer once the node's load balancer verified, its unit restarted, and
checked to work through it (:class:`Repointed`; the shared parts: :mod:`wizard.engine.clients`).
Undo: the kubeconfigs back, their units restarted on them.

Each kubeconfig goes into the node's journal before it is renamed into place (after the
upload's files, in the same journal), and the journal is cleared once every client checked out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.engine import node_journal
from wizard.engine.clients import (
    ClientChange,
    check_client,
    moves,
    pods_of,
    read_record,
    replace_file,
    restart_pod,
    units_of,
    write_record,
)
from wizard.engine.events import Status
from wizard.engine.file_changes import record_in_journal
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.phases.activate import Activated
from wizard.engine.phases.upload import uploaded
from wizard.engine.remote import ORIG
from wizard.engine.work import ApplyWork, has_clients
from wizard.plan import RenderedFile


@dataclass(frozen=True)
class Repointed(Record):
    changes: tuple[ClientChange, ...] = ()  # repointed (or finished) by this run
    journal: node_journal.Journal | None = None  # the journal this run wrote last

    @property
    def to_undo(self) -> bool:
        return bool(self.changes)


def _repointed(job: ApplyWork) -> Repointed:
    return job.found(Repointed) or Repointed()


def _changed(job: ApplyWork, change: ClientChange, action: str | None) -> None:
    record = _repointed(job)
    job.keep(
        replace(
            record,
            changes=(*record.changes, change),
            changed_files=(*record.changed_files, change.target.path),
            actions=(*record.actions, action) if action else record.actions,
        )
    )


def _restarted(job: ApplyWork, unit: str, action: str) -> None:
    record = _repointed(job)
    job.keep(
        replace(record, restarted=(*record.restarted, unit), actions=(*record.actions, action))
    )


def repoint_clients(job: ApplyWork) -> Outcome:
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    files = uploaded(job)
    job.keep(Repointed(journal=files.journal))
    run_id = job.lock.run_id if job.lock is not None else "unknown"
    lines: list[str] = []
    pending = {e.path for e in files.inherited}  # repointed by a run that stopped half-way
    for target, moved in moves(node, plan, job.plan.node):
        line = f"{target.path}: {moved.diff_line}"
        lines.append(line)
        if not moved.changed:
            if target.path in pending:  # its unit may still run on the old server: finish it
                _changed(job, ClientChange(target, False, line), None)
                lines.append(f"{target.path}: repointed by a run that stopped: finishing it")
            continue
        first = node.read_text(target.path + ORIG) is None
        # In the node's journal first: a run that dies from here on is finished by the next.
        entry = RenderedFile(
            target.path, "", "kubeconfig", service=target.unit or None, restart=True
        )
        journal = record_in_journal(node, _repointed(job).journal, run_id, files.inherited, entry)
        job.keep(replace(_repointed(job), journal=journal))
        # The clusters it repoints, by name, before the rename: uninstall points back those.
        record = read_record(node)
        names = list(dict.fromkeys([*record.get(target.path, ()), *moved.clusters]))
        if names != record.get(target.path):
            write_record(node, {**record, target.path: names})
        replace_file(node, target.path, moved.text)
        _changed(job, ClientChange(target, first, line), line)
    if not lines:
        return Status.UNCHANGED, "none of the listed kubeconfigs is on this node", ()
    changes = _repointed(job).changes
    if not changes:
        return Status.UNCHANGED, "every kubeconfig already goes through the load balancer", ()
    for unit in units_of(changes):
        if node.unit_state(unit)[1]:  # running: restart it on the new server
            result = node.systemctl("restart", unit)
            if not result.ok:
                raise StepFailed(f"systemctl restart {unit} failed", result.output_lines())
            _restarted(job, unit, f"systemctl restart {unit}")
            lines.append(f"restarted {unit}")
    for pod in pods_of(c.target for c in changes):
        ok, what = restart_pod(node, pod, job.options.kubelet_restart_timeout)
        if not ok:
            raise StepFailed(what)
        lines.append(what)
        if what.startswith("restarted"):
            _restarted(job, f"pod/{pod}", what)
    for change in changes:
        lines.append(
            check_client(node, plan, change.target, job.options.verify_timeout, job.cancel)
        )
    if _repointed(job).journal is not None or pending:
        node_journal.clear(node)
    return Status.CHANGED, f"{len(changes)} kubeconfig(s) repointed", tuple(lines)


def would_repoint(job: ApplyWork) -> Outcome:
    """A dry run: the one-line diff of each kubeconfig that would change."""
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    lines: list[str] = []
    units: list[str] = []
    actions: list[str] = []
    for target, moved in moves(node, plan, job.plan.node):
        lines.append(f"{target.path}: {moved.diff_line}")
        if moved.changed:
            actions.append(f"would repoint {target.path}: {moved.diff_line}")
            if target.unit and target.unit not in units:
                units.append(target.unit)
            if target.pod and f"static pod {target.pod}" not in units:
                units.append(f"static pod {target.pod}")
    actions.extend(f"would restart {unit}" for unit in units)
    job.keep(Repointed(actions=tuple(actions)))
    return Status.INFO, f"{len(lines)} kubeconfig(s) on the node", tuple(lines)


def put_clients_back(job: ApplyWork) -> list[str]:
    """The undo: each kubeconfig this run repointed back as it was, its unit restarted."""
    node = job.node
    assert node is not None
    problems: list[str] = []
    record = _repointed(job)
    activated = job.found(Activated)
    restarted = (*(activated.restarted if activated else ()), *record.restarted)
    for change in reversed(record.changes):
        try:
            node.restore_previous(change.target.path)
            if change.first:
                node.run(["rm", "-f", change.target.path + ORIG])
                kept = read_record(node)
                if kept.pop(change.target.path, None) is not None:
                    write_record(node, kept)
        except RuntimeError as exc:
            problems.append(str(exc))
    for unit in units_of(record.changes):
        if unit in restarted and not node.systemctl("restart", unit).ok:
            problems.append(f"{unit} did not restart on its previous kubeconfig")
    for pod in pods_of(c.target for c in record.changes):
        if f"pod/{pod}" in restarted:
            ok, what = restart_pod(node, pod, job.options.kubelet_restart_timeout)
            if not ok:
                problems.append(what)
    return problems


PHASE: Phase[ApplyWork] = Phase(
    PhaseName.CLIENTS,
    0.05,
    run=repoint_clients,
    dry_run=would_repoint,
    undo=put_clients_back,
    applies=has_clients,
)
