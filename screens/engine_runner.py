"""A mixin for screens that run the engine: the thread worker, host-key prompts and errors.

The worker only calls the engine and posts messages (``RunFinished``, or ``RunFailed`` when the
engine raised). Engine events are applied once per frame: a timer drains the bridge every
``FRAME_S`` and hands the batch to :meth:`RunsEngine.apply_events`; it stops once the run is over
and the buffer is empty.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol, cast

from textual import on, work
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from screens.engine_bridge import FRAME_S, EngineBridge, HostKeyRequest, RunFailed, RunFinished
from screens.state import Engine, WizardState
from screens.widgets.hostkey import HostKeyModal
from wizard.engine.events import Event
from wizard.engine.model import ApplyOptions

if TYPE_CHECKING:
    from wizard.render import RenderPlan


class EngineApp(Protocol):
    """What a run asks of the App (``screens.app.KubehaApp``), named here: the App imports
    this module."""

    @property
    def state(self) -> WizardState: ...

    @property
    def engine(self) -> Engine: ...

    def example_refusal(self, command: str, verifying: bool = False) -> str | None: ...


class RunsEngine(Screen):
    """Screen side of one engine run at a time."""

    @property
    def engine_app(self) -> EngineApp:
        return cast(EngineApp, self.app)  # Textual types a screen's app as App[object]

    bridge: EngineBridge | None = None
    engine_worker: Worker | None = None
    changes_nodes = False  # a deploy does, a dry run does not: quitting asks only for a deploy
    quitting = False  # stop_and_quit was asked: the app exits once the engine has returned

    flushes = 0  # batches applied by flush_events, for the tests
    _frames: Timer | None = None

    def start_engine(self, options: ApplyOptions, plan: RenderPlan) -> EngineBridge:
        """Run the engine on ``plan`` (the one Preview showed) in a thread worker."""
        self.bridge = EngineBridge(self)
        refusal = self.engine_app.example_refusal("dry run" if options.dry_run else "deploy")
        if refusal is not None:  # the screens refuse first; this net keeps the engine unrun
            self.post_message(RunFailed(refusal))
            return self.bridge
        options = dataclasses.replace(options, confirm_host_key=self.bridge.confirm_host_key)
        self.engine_worker = self._engine_worker(self.bridge, options, plan)
        if self._frames is not None:
            self._frames.stop()
        self._frames = self.set_interval(FRAME_S, self.flush_events)
        return self.bridge

    def flush_events(self) -> None:
        """Apply every event buffered since the last frame; stop the timer after the run."""
        events = self.bridge.drain() if self.bridge is not None else []
        if events:
            self.flushes += 1
            self.apply_events(events)
        elif not self.engine_running and self._frames is not None:
            self._frames.stop()
            self._frames = None

    def apply_events(self, events: list[Event]) -> None:
        """Show a frame's worth of engine events; screens that show progress override it."""

    def cancel_engine(self) -> None:
        if self.bridge is not None:
            self.bridge.cancel.set()

    def stop_and_quit(self) -> None:
        """Cancel the run and quit when the engine has returned: each node first finishes or
        rolls back the step it is in (a thread cannot be interrupted, nor should a node be)."""
        self.quitting = True
        self.cancel_engine()
        if not self.engine_running:
            self.app.exit()

    @property
    def engine_running(self) -> bool:
        return self.engine_worker is not None and not self.engine_worker.is_finished

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def _engine_worker(self, bridge: EngineBridge, options: ApplyOptions, plan: RenderPlan) -> None:
        state, engine = self.engine_app.state, self.engine_app.engine
        summary = engine(plan, options, bridge.sink, cancel=bridge.cancel, secrets=state.secrets)
        self.post_message(RunFinished(summary))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "engine" and event.state is WorkerState.ERROR:
            error = event.worker.error
            self.post_message(RunFailed(f"{type(error).__name__}: {error}"))
        if event.worker.group == "engine" and event.worker.is_finished and self.quitting:
            self.app.exit()

    @on(HostKeyRequest)
    def _host_key(self, request: HostKeyRequest) -> None:
        self.app.push_screen(HostKeyModal(request.host, request.fingerprint), request.reply.answer)

    def on_unmount(self) -> None:
        self.cancel_engine()
