"""What the upload phase needs to know about one file: the bytes it must hold on the node and
the diff from what is there (:func:`compare`), and the node's journal of the files a run puts in
place (:mod:`wizard.engine.node_journal`): read before the first file, written before each
rename.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.engine import node_journal
from wizard.engine.remote import RemoteNode, content_sha256
from wizard.render import RenderedFile

if TYPE_CHECKING:
    from wizard.engine.node_job import NodeJob


@dataclass
class Change:
    """A file this run put in place; ``existed``: it replaced one."""

    rendered: RenderedFile
    existed: bool


def desired(node: RemoteNode, rendered: RenderedFile) -> tuple[bytes, str | None]:
    """The bytes the file must hold, and its current text (None when absent)."""
    current = node.read_text(rendered.path)
    if rendered.kind == "line":
        return node.managed_hosts_file(rendered.content, current).encode(), current
    return rendered.content.encode(), current


def compare(
    node: RemoteNode, name: str, rendered: RenderedFile
) -> tuple[bytes, str | None, str | None]:
    """(the bytes to write, the current text or hash (None: absent), the diff or None when
    nothing changes) of ``rendered`` on node ``name``. A binary file (``data``) is compared by
    its sha256 alone."""
    if rendered.data is not None:
        old, new = node.sha256(rendered.path), content_sha256(rendered.data)
        diff = (
            None if old == new else f"binary {rendered.path}: sha256 {old or 'absent'} -> {new}\n"
        )
        return rendered.data, old, diff
    want, current = desired(node, rendered)
    if current is not None and content_sha256(current.encode()) == content_sha256(want):
        return want, current, None
    diff = "".join(
        difflib.unified_diff(
            (current or "").splitlines(keepends=True),
            want.decode().splitlines(keepends=True),
            fromfile=f"{name}:{rendered.path}" if current is not None else "/dev/null",
            tofile=f"{name}:{rendered.path} (kubeha)",
        )
    )
    return want, current, diff


def read_journal(job: NodeJob) -> list[str]:
    """An earlier run's journal on the node: its files are finished (or rolled back) by this
    run. Lines that say so."""
    assert job.node is not None
    journal, problem = node_journal.read(job.node)
    if problem:
        return [problem]
    if journal is None or not journal.entries:
        return []
    job.inherited = journal.entries
    files = ", ".join(e.path for e in journal.entries)
    verb = "would finish" if job.options.dry_run else "finishing"
    return [f"run {journal.run_id} stopped during its change of {files}: {verb} it"]


def record_in_journal(job: NodeJob, rendered: RenderedFile) -> None:
    """Record ``rendered`` in the node's journal before it is renamed into place."""
    assert job.node is not None
    if job.journal is None:
        run_id = job.lock.run_id if job.lock is not None else "unknown"
        job.journal = node_journal.Journal(run_id, job.inherited)
    entry = node_journal.JournalEntry(rendered.path, rendered.service, rendered.restart)
    job.journal = job.journal.with_entry(entry)
    node_journal.write(job.node, job.journal)
