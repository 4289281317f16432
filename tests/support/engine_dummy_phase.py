"""A phase that exists only for the tests (tests/wizard/engine/test_phase_modules.py): the shape a new
phase of wizard/engine/phases/ takes, one module with its frozen record and its PHASE, which a
list then names. It stamps a file on the node and takes it back on undo."""

from __future__ import annotations

from dataclasses import dataclass

from wizard.engine.events import Status
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase
from wizard.engine.work import ApplyWork

STAMP = "/etc/kubeha-dummy-stamp"
TITLE = "stamp"  # a real phase's name is a PhaseName, listed in docs/JSON.md


@dataclass(frozen=True)
class Stamped(Record):
    @property
    def to_undo(self) -> bool:
        return bool(self.changed_files)


def stamp(job: ApplyWork) -> Outcome:
    assert job.node is not None
    temp = job.node.stage(STAMP, f"{job.name}\n".encode(), 0o644)
    job.node.commit(STAMP, temp)
    job.keep(Stamped(actions=(f"stamped {STAMP}",), changed_files=(STAMP,)))
    return Status.CHANGED, f"stamped {STAMP}", ()


def would_stamp(job: ApplyWork) -> Outcome:
    job.keep(Stamped(actions=(f"would stamp {STAMP}",)))
    return Status.INFO, f"would stamp {STAMP}", ()


def unstamp(job: ApplyWork) -> list[str]:
    assert job.node is not None
    job.node.restore_previous(STAMP)
    job.keep(Stamped())
    return []


PHASE: Phase[ApplyWork] = Phase(TITLE, 0.0, run=stamp, dry_run=would_stamp, undo=unstamp)
