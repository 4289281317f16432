"""What the deploy screen knows about one node, folded from the engine's events.

Pure data, no widgets: ``NodeView.apply(event)`` folds an event in; the pane then shows the
view. Keeping this apart lets a flood of events collapse into one pane update per node.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState

LAST_LINES = 2


def phase_progress(phase: str) -> float | None:
    """The progress an apply's node has once it reaches ``phase``, for events that carry none
    (a host-key question; engines that do not send their own): from the engine's list of
    phases, imported with the first such event (the engine is running by then)."""
    from wizard.engine.node_job import PROGRESS

    return PROGRESS.get(phase)


@dataclass
class NodeView:
    node: str
    role: str
    address: str
    phase: str = ""
    status: str = "waiting"
    message: str = ""
    progress: float = 0.0
    failed: bool = False
    finished: bool = False
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    started: float | None = None  # time.monotonic() of the node's first event
    ended: float | None = None  # and of its result: the pane shows the time between
    build: bool = False  # the strategy's build (screens.deploy.build_view), not a node

    @property
    def running(self) -> bool:
        return not self.finished and self.status != "waiting"

    def apply(self, event: Event) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.phase = event.phase
        if event.message:
            self.message = event.message
        if event.progress is not None:
            self.progress = max(self.progress, min(event.progress, 1.0))
        elif (reached := phase_progress(event.phase)) is not None:
            self.progress = max(self.progress, reached)
        if event.status is Status.FAILED:
            self.failed = True
            self.status = "failed"
        elif event.status is Status.HOSTKEY:
            self.status = "host key?"
        elif event.status is Status.STARTED:
            self.status = "running" if not self.failed else self.status
        for line in event.lines:
            self.lines.append(line)
        if event.message and not event.lines:
            self.lines.append(event.message)

    def finish(self, result: NodeResult) -> None:
        self.finished = True
        if self.started is not None:
            self.ended = time.monotonic()
        self.failed = not result.ok
        self.status = result.state.value
        if result.ok:
            self.progress = 1.0
        if result.reason:
            self.message = result.reason
            if result.reason not in self.lines:  # the failing step's event said it already
                self.lines.append(result.reason)
        elif result.state is NodeState.VERIFIED:
            self.lines.append("verified: the apiserver answers through the load balancer")
