"""``upload``: each changed file staged beside its place, checked by the node's own program,
written to the node's journal (:mod:`wizard.engine.node_journal`), renamed into place
(:class:`Uploaded`). An earlier run's journal is read first: its files are finished by this run
(or put back with this run's). Undo: every file put in place back as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.engine import fault_hooks, node_journal, static_pod_folder
from wizard.engine.events import Status
from wizard.engine.file_changes import Change, compare, read_journal, record_in_journal
from wizard.engine.job import Record
from wizard.engine.model import FileAction, FileDiff
from wizard.engine.phase import Cancelled, Outcome, Phase, PhaseName, StepFailed
from wizard.engine.remote import VERIFIED_URL_FILE
from wizard.engine.work import ApplyWork
from wizard.render import RenderedFile


@dataclass(frozen=True)
class Uploaded(Record):
    changes: tuple[Change, ...] = ()  # the files this run put in place, in order
    inherited: tuple[node_journal.JournalEntry, ...] = ()  # put in place by a run that died
    journal: node_journal.Journal | None = None  # the journal this run wrote last
    served_before: bool | None = None  # the previous config answered at previous_url
    previous_url: str | None = None  # the URL that verified this node's previous config

    @property
    def to_undo(self) -> bool:
        return bool(self.changes or self.inherited)

    def inherited_files(self, plan_files: tuple[RenderedFile, ...]) -> list[RenderedFile]:
        """The plan's files that a run that died put in place and this run did not write."""
        written = {c.rendered.path for c in self.changes}
        paths = {e.path for e in self.inherited} - written
        return [f for f in plan_files if f.path in paths]

    def put_in_place(self, plan_files: tuple[RenderedFile, ...]) -> list[RenderedFile]:
        """Every file this run (newest first) and a run that died put in place."""
        return [c.rendered for c in reversed(self.changes)] + self.inherited_files(plan_files)


def uploaded(job: ApplyWork) -> Uploaded:
    """The upload's record so far (empty before it ran)."""
    return job.found(Uploaded) or Uploaded()


def _previous(job: ApplyWork) -> Uploaded:
    """Does the node's previous config serve? Probed at the URL that last verified it, so that
    a rollback can tell whether it serves again."""
    assert job.node is not None
    url = job.node.read_text(VERIFIED_URL_FILE)
    if not url:
        return Uploaded(previous_url=url)
    url = url.strip()
    return Uploaded(previous_url=url, served_before=job.probe_once(url, timeout=2)[0])


def _diff(job: ApplyWork, rendered: RenderedFile) -> tuple[bytes, str | None, FileAction]:
    """Compare ``rendered`` with the node's file and keep the diff: (the bytes to write, the
    current text or hash, what the upload does to it)."""
    assert job.node is not None
    desired, current, diff = compare(job.node, job.name, rendered)
    if diff is None:
        action, found = FileAction.UNCHANGED, FileDiff(rendered.path, FileAction.UNCHANGED)
    else:
        action = FileAction.UPDATE if current is not None else FileAction.CREATE
        found = FileDiff(rendered.path, action, diff)
    record = uploaded(job)
    job.keep(replace(record, diffs=(*record.diffs, found)))
    return desired, current, action


def _journal(job: ApplyWork, dry_run: bool) -> list[str]:
    assert job.node is not None
    lines, inherited = read_journal(job.node, dry_run)
    if inherited:
        job.keep(replace(uploaded(job), inherited=inherited))
    return lines


def upload(job: ApplyWork) -> Outcome:
    assert job.node is not None
    job.keep(_previous(job) if job.plan.files else Uploaded())
    lines = _journal(job, dry_run=False)
    run_id = job.lock.run_id if job.lock is not None else "unknown"
    if job.plan.static_pods:  # kubelet's folder, when kubeadm left none (a worker)
        try:
            static_pod_folder.ensure(job.node, job.plan.static_pods)
        except RuntimeError as exc:
            raise StepFailed(str(exc)) from exc
    for rendered in job.plan.files:
        if job.cancel.is_set():
            raise Cancelled()
        desired, current, action = _diff(job, rendered)
        if action is FileAction.UNCHANGED:
            continue
        temp = job.node.stage(rendered.path, desired, rendered.mode, rendered.owner, rendered.group)
        if rendered.check:
            argv = [arg.replace("{file}", temp) for arg in rendered.check]
            result = job.node.run(argv, timeout=60)
            if not result.ok:
                job.node.discard(temp)
                raise StepFailed(
                    f"{rendered.path}: the node's own check refused it ({' '.join(rendered.check[:2])})",
                    result.output_lines(),
                )
        fault_hooks.kill_point("staged")
        record = uploaded(job)
        journal = record_in_journal(job.node, record.journal, run_id, record.inherited, rendered)
        job.keep(replace(record, journal=journal))
        job.node.commit(rendered.path, temp)
        record = uploaded(job)
        job.keep(
            replace(
                record,
                changes=(*record.changes, Change(rendered, current is not None)),
                changed_files=(*record.changed_files, rendered.path),
            )
        )
        lines.append(f"{action}d {rendered.path}")
    changes = uploaded(job).changes
    if not changes:
        return Status.UNCHANGED, "every file already up to date", tuple(lines)
    fault_hooks.kill_point("renamed")
    return Status.CHANGED, f"{len(changes)} file(s) written", tuple(lines)


def would_upload(job: ApplyWork) -> Outcome:
    assert job.node is not None
    job.keep(Uploaded())
    lines = _journal(job, dry_run=True)
    for rendered in job.plan.files:
        if job.cancel.is_set():
            raise Cancelled()
        _, _, action = _diff(job, rendered)
        if action is not FileAction.UNCHANGED:
            lines.append(f"would {action} {rendered.path}")
    changed = [d for d in uploaded(job).diffs if d.action != FileAction.UNCHANGED]
    return Status.INFO, f"{len(changed)} file(s) would change", tuple(lines)


def put_back(job: ApplyWork) -> list[str]:
    """The undo: each file this run (or a run that died) put in place back as it was."""
    assert job.node is not None
    problems: list[str] = []
    for rendered in uploaded(job).put_in_place(job.plan.files):
        try:
            job.node.restore_previous(rendered.path)
        except RuntimeError as exc:
            problems.append(str(exc))
    if job.plan.static_pods:
        static_pod_folder.drop(job.node, job.plan.static_pods)
    return problems


PHASE: Phase[ApplyWork] = Phase(
    PhaseName.UPLOAD, 0.20, run=upload, dry_run=would_upload, undo=put_back
)
