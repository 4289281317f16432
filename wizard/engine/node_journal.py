"""The journal a node keeps of a change in progress (``/var/lib/kubeha/journal.json``, beside
the node's lock), so that a run killed half-way (SIGKILL, a dropped SSH session, a laptop that
slept) is finished or rolled back by the next run instead of left behind.

Before each file is renamed into place, the journal lists every file this run has put in place
so far, with the service that reads it. It is removed once the node is verified on the new
files, or rolled back. A run that finds a journal of another run knows that those files are on
disk but perhaps not running: it reloads or restarts their services even when the files are
already what it wants ("unchanged" must also mean "running what the files say"), verifies, and
on failure puts back their previous versions with its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from wizard.engine.remote import RemoteNode

JOURNAL = "/var/lib/kubeha/journal.json"
MAX_BYTES = 256 * 1024  # a journal lists a node's files: a larger one is not kubeha's


@dataclass(frozen=True)
class JournalEntry:
    path: str
    service: str | None
    restart: bool


@dataclass(frozen=True)
class Journal:
    run_id: str
    entries: tuple[JournalEntry, ...]

    def to_text(self) -> str:
        return json.dumps(
            {"run_id": self.run_id, "entries": [asdict(e) for e in self.entries]}, sort_keys=True
        )

    @classmethod
    def parse(cls, text: str) -> Journal | None:
        """The journal in ``text``, or None for anything that is not one of kubeha's."""
        if len(text) > MAX_BYTES:
            return None
        try:
            data = json.loads(text)
            entries = tuple(
                JournalEntry(str(e["path"]), e.get("service") or None, bool(e.get("restart")))
                for e in data["entries"]
            )
            return cls(str(data["run_id"]), entries)
        except (ValueError, KeyError, TypeError, RecursionError):
            return None

    def with_entry(self, entry: JournalEntry) -> Journal:
        kept = tuple(e for e in self.entries if e.path != entry.path)
        return Journal(self.run_id, (*kept, entry))


def read(node: RemoteNode) -> tuple[Journal | None, str]:
    """(the journal, "") or (None, why an existing file is not a journal; "" when absent)."""
    text = node.read_text(JOURNAL)
    if text is None:
        return None, ""
    journal = Journal.parse(text)
    return journal, "" if journal else f"{JOURNAL} is not a kubeha journal: left as it is"


def write(node: RemoteNode, journal: Journal) -> None:
    """Atomically, private to root."""
    node.write_private_file(JOURNAL, journal.to_text())


def clear(node: RemoteNode) -> None:
    result = node.run(["rm", "-f", JOURNAL])
    if not result.ok:
        raise RuntimeError(f"cannot remove the node's journal {JOURNAL}: {result.stderr.strip()}")
