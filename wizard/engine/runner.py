"""The one runner of phases (:func:`walk`): a node's (:func:`run_phases`, for an apply and an
uninstall alike) and the run's own (the build, the preflight, the nodes, ...: walked by
:func:`wizard.engine.apply.run_apply` with no cancel between them, each reporting its own
events, a failure raised as :class:`~wizard.engine.phase.RunStopped`).

Each phase in order (its ``dry_run`` in a dry run, where a phase without one is left out), with
a ``started`` event and a closing one that carries the phase's outcome; a cancel is honoured
between phases. When a phase fails, or the run is cancelled, after the job changed the node, the
rollback runs the undo of every phase that started, in reverse, then the job's ``after_undo``
(an apply: the previous config re-activated and probed). The job's result says what the node
is left with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from wizard.engine.events import Status
from wizard.engine.model import ApplyOptions, NodeResult, NodeState
from wizard.engine.phase import Cancelled, Outcome, Phase, PhaseName, StepFailed
from wizard.errors import KubehaError

ROLLBACK_PROGRESS = 0.9  # a node's bar while it rolls back
# The errors a node's phase fails with as StepFailed: the operator can read them.
READABLE: tuple[type[Exception], ...] = (KubehaError, RuntimeError, OSError)


class Walked(Protocol):
    """What :func:`walk` needs of what it walks the phases for (a node's job, the run)."""

    options: ApplyOptions
    cancel: threading.Event

    def event(
        self, phase: str, status: Status, message: str = "", lines=(), duration=None
    ) -> None: ...


def walk(
    job: Walked,
    phases: Sequence[Phase],
    started: list[Phase],
    *,
    stop_on_cancel: bool = True,
    readable: tuple[type[Exception], ...] = READABLE,
) -> None:
    """Each phase in order (its ``dry_run`` in a dry run, where a phase without one is left
    out; a phase that does not apply is left out), between its ``started`` event and its
    outcome's, each added to ``started`` as it starts. Raises StepFailed when one fails (an
    error of ``readable`` becomes one), Cancelled on a cancel between phases."""
    for phase in phases:
        action = phase.dry_run if job.options.dry_run else phase.run
        if action is None or (phase.applies is not None and not phase.applies(job)):
            continue
        if stop_on_cancel and job.cancel.is_set():
            raise Cancelled()
        started.append(phase)
        _step(job, phase.title, action, readable)


class PhasedJob(Walked, Protocol):
    """What the runner needs of a node's job (:class:`~wizard.engine.job.NodeWork` and its
    kinds)."""

    @property
    def changed(self) -> bool: ...  # the node holds changes a failure must take back

    def after_undo(self, problems: list[str]) -> tuple[Status, str]: ...

    def finished(self) -> NodeResult: ...

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult: ...


def run_phases(job: PhasedJob, phases: Sequence[Phase]) -> NodeResult:
    """Walk ``phases`` for ``job``; the node's result, whatever happened on it."""
    started: list[Phase] = []
    try:
        walk(job, phases, started)
    except Cancelled:
        if _changed(job):
            _, rollback = roll_back(job, started)
            return job.result(NodeState.ROLLED_BACK, "cancelled before it was verified", rollback)
        job.event(PhaseName.DONE, Status.SKIPPED, "cancelled")
        return job.result(NodeState.CANCELLED, "cancelled before any change")
    except StepFailed as exc:
        return _failed(job, started, str(exc))
    return job.finished()


def _step(
    job: Walked,
    title: str,
    action: Callable[[Walked], Outcome],
    readable: tuple[type[Exception], ...],
) -> None:
    """One phase, between its ``started`` event and its outcome's; an error the operator can
    read (``readable``: a node's, SSH's, a lock's) fails the phase as StepFailed."""
    job.event(title, Status.STARTED)
    began = time.monotonic()
    try:
        status, message, lines = action(job)
    except StepFailed as exc:
        job.event(title, Status.FAILED, str(exc), exc.lines, time.monotonic() - began)
        raise
    except readable as exc:
        job.event(title, Status.FAILED, str(exc), (), time.monotonic() - began)
        raise StepFailed(str(exc)) from None
    job.event(title, status, message, lines, time.monotonic() - began)


def _changed(job: PhasedJob) -> bool:
    """The node holds changes to take back (never in a dry run, which makes none: the files
    an interrupted run left are only read then)."""
    return job.changed and not job.options.dry_run


def _failed(job: PhasedJob, started: list[Phase], reason: str) -> NodeResult:
    if not _changed(job):
        job.event(PhaseName.DONE, Status.FAILED, f"failed: {reason}; nothing was changed")
        return job.result(NodeState.UNTOUCHED, reason)
    if not any(phase.undo for phase in started):  # nothing knows how to take it back
        job.event(PhaseName.DONE, Status.FAILED, f"failed: {reason}; not rolled back")
        return job.result(NodeState.BROKEN, reason, "not rolled back: nothing undoes it")
    restored, rollback = roll_back(job, started)
    job.event(PhaseName.DONE, Status.FAILED, f"failed: {reason}; {rollback}")
    return job.result(NodeState.ROLLED_BACK if restored else NodeState.BROKEN, reason, rollback)


def roll_back(job: PhasedJob, started: list[Phase]) -> tuple[bool, str]:
    """Every started phase's undo in reverse, then the job's ``after_undo``: (whether the node
    is back as it was, the rollback's message)."""
    job.event(PhaseName.ROLLBACK, Status.STARTED)
    began = time.monotonic()
    problems: list[str] = []
    for phase in reversed(started):
        if phase.undo is not None:
            problems.extend(phase.undo(job))
    status, message = job.after_undo(problems)
    job.event(PhaseName.ROLLBACK, status, message, (), time.monotonic() - began)
    return status is Status.OK, message
