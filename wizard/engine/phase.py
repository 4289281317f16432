"""A node's work as data, the way k0sctl runs a cluster install: a :class:`Phase` has a title, a
weight (its share of the node's progress bar), what it does, what it does in a dry run and how
it is undone. Each phase is a module of :mod:`wizard.engine.phases`; the ordered lists
(:mod:`wizard.engine.phases.order`) are walked by one runner, :mod:`wizard.engine.runner`.

Light on purpose (no SSH, no renderer): the names, the progress marks and the errors a phase
raises are read by the wizard's screens too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from wizard.engine.events import Status


class PhaseName(StrEnum):
    """Every ``phase`` an event can carry (docs/JSON.md)."""

    RUN = "run"  # run-level events: node None
    BUILD = "build"  # the strategy's build (its prepare), once before any node (node None)
    PREFLIGHT = "preflight"  # the certificate preflight, once before any node (node None)
    CONNECT = "connect"
    FACTS = "facts"
    INSTALL = "install"
    UPLOAD = "upload"
    ACTIVATE = "activate"
    VERIFY = "verify"
    CLIENTS = "clients"  # kubeconfigs repointed to the load balancer ([clients] repoint)
    # kubeadm's objects repointed through the API (node None): kube-proxy, cluster-info,
    # kubeadm-config ([clients] repoint); an uninstall's giving back.
    OBJECTS = "objects"
    RETIRE = "retire"  # another strategy's balancer on the same port stopped and removed
    ROLLBACK = "rollback"
    DONE = "done"  # a node's last word: its result
    DISCONNECT = "disconnect"


class RunMode(StrEnum):
    """What a run does to its nodes; the run's first event says it."""

    APPLY = "apply"
    DRY_RUN = "dry run"
    UNINSTALL = "uninstall"


# What a phase's step returns: the status of its closing event, its message, output lines.
Outcome = tuple[Status, str, tuple[str, ...]]

# The job a list of phases works on; contravariant: a phase for any node's job (connect) is a
# phase of an apply's or an uninstall's.
J = TypeVar("J", contravariant=True)


class StepFailed(Exception):
    """A phase failed; ``lines`` are the output that says why (a check's, a unit's journal)."""

    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


class RunStopped(StepFailed):
    """A phase of the run before any node (the build, a preflight) failed: the run stops and
    every node is left as it was. ``step`` names it in the nodes' reason ("the certificate
    preflight"; empty: the strategy's prepare step, named by its prepare_title)."""

    def __init__(self, message: str, lines: tuple[str, ...] = (), step: str = "") -> None:
        super().__init__(message, lines)
        self.step = step


class Cancelled(Exception):
    """The run was cancelled: raised between phases (and between files of an upload)."""


@dataclass(frozen=True)
class Phase(Generic[J]):
    """One step of a node's job.

    ``run`` does it; ``dry_run`` says what it would do and changes nothing (None: the phase is
    left out of a dry run); ``undo`` takes back what ``run`` did when a later phase (or this one)
    fails or the run is cancelled, and returns the problems it met. The runner calls the undo of
    every phase that started, in reverse order. ``applies`` (None: always) says whether the job
    has the phase at all: one that does not is left out, events and all.
    """

    title: str  # its events' phase: a PhaseName (docs/JSON.md lists them all)
    weight: float  # how far the node's progress bar moves as the node enters the phase
    run: Callable[[J], Outcome]
    dry_run: Callable[[J], Outcome] | None = None
    undo: Callable[[J], list[str]] | None = None
    applies: Callable[[J], bool] | None = None


def progress_marks(phases: Sequence[Phase]) -> dict[str, float]:
    """The node's progress once it reaches each phase: the weights up to and including it."""
    marks: dict[str, float] = {}
    reached = 0.0
    for phase in phases:
        reached += phase.weight
        marks[phase.title] = round(reached, 3)
    return marks
