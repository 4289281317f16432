"""A phase of the run that exists only for the tests (tests/wizard/engine/test_phase_modules.py): the
shape a new phase of wizard/engine/run_phases/ takes, one module with its PHASE, which the run's
list then names. Before the nodes it opens a gate (one run-level event); a closed gate stops the
run, as the build and the preflights do: no node is touched."""

from __future__ import annotations

from wizard.engine.events import Event, Status
from wizard.engine.phase import Outcome, Phase, RunStopped
from wizard.engine.run import Run

TITLE = "gate"  # a real phase's name is a PhaseName, listed in docs/JSON.md
CLOSED = False  # the tests close it


def open_gate(run: Run) -> Outcome:
    if CLOSED:
        run.emit(Event(None, TITLE, Status.FAILED, "the gate is closed", ("by the test",)))
        raise RunStopped("the gate is closed", ("by the test",), step="the dummy gate")
    run.emit(Event(None, TITLE, Status.OK, f"gate open for {len(run.selected)} node(s)"))
    return Status.OK, "", ()


def would_open_gate(run: Run) -> Outcome:
    run.emit(Event(None, TITLE, Status.INFO, f"would open the gate for {len(run.selected)}"))
    return Status.OK, "", ()


PHASE: Phase[Run] = Phase(TITLE, 0.0, run=open_gate, dry_run=would_open_gate)
