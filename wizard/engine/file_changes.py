"""What the upload phase needs to know about one file: the bytes it must hold on the node and
the diff from what is there (:func:`compare`), and the node's journal of the files a run puts in
place (:mod:`wizard.engine.node_journal`): read before the first file, written before each
rename.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from wizard.engine import node_journal
from wizard.engine.remote import RemoteNode, content_sha256
from wizard.render import RenderedFile


@dataclass(frozen=True)
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
        if rendered.secret:  # a credential: not even its hash is shown
            said = "new" if old is None else "changed"
            return (
                rendered.data,
                old,
                None if old == new else f"secret {rendered.path}: {said} (redacted)\n",
            )
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


def read_journal(
    node: RemoteNode, dry_run: bool
) -> tuple[list[str], tuple[node_journal.JournalEntry, ...]]:
    """An earlier run's journal on the node: its files are finished (or rolled back) by this
    run. (Lines that say so, its entries.)"""
    journal, problem = node_journal.read(node)
    if problem:
        return [problem], ()
    if journal is None or not journal.entries:
        return [], ()
    files = ", ".join(e.path for e in journal.entries)
    verb = "would finish" if dry_run else "finishing"
    return [
        f"run {journal.run_id} stopped during its change of {files}: {verb} it"
    ], journal.entries


def record_in_journal(
    node: RemoteNode,
    journal: node_journal.Journal | None,
    run_id: str,
    inherited: tuple[node_journal.JournalEntry, ...],
    rendered: RenderedFile,
) -> node_journal.Journal:
    """Record ``rendered`` in the node's journal before it is renamed into place: the journal
    written (``journal`` with it; a new one of ``run_id`` after ``inherited`` when None)."""
    if journal is None:
        journal = node_journal.Journal(run_id, inherited)
    entry = node_journal.JournalEntry(rendered.path, rendered.service, rendered.restart)
    journal = journal.with_entry(entry)
    node_journal.write(node, journal)
    return journal
