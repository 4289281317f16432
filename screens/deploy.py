"""Step 8, Deploy: the engine in a thread worker, one live pane per node and a summary line.

Events arrive through an :class:`~screens.engine_bridge.EngineBridge`; once per frame the
screen drains every buffered event, folds them into each node's
:class:`~screens.node_view.NodeView` and repaints only the panes that changed and are in view:
the panes live in a :class:`~screens.widgets.pane_list.PaneList`, which mounts only those.
Cancel (Escape) sets the bridge's ``threading.Event``; the engine stops between steps and
leaves each node on its new verified config or its old one.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Static

from screens.base import WizardScreen
from screens.engine_bridge import RunFailed, RunFinished
from screens.engine_runner import RunsEngine
from screens.node_view import NodeView
from screens.widgets.confirm import cancel_question
from screens.widgets.node_pane import NodePane
from screens.widgets.pane_list import PaneList
from wizard.engine.events import Event, Status
from wizard.engine.model import ApplyOptions
from wizard.profile import Profile
from wizard.strategies import registry

TICK = 0.2  # seconds between repaints of the running panes (spinner, elapsed time)
BUILD_LINES = 8


def build_view(profile: Profile) -> NodeView | None:
    """A pane for the strategy's build (its prepare: local-nginx's source or binary install),
    named and described by the strategy, before the node panes."""
    strategy = registry.find(profile.strategy)
    if strategy is None or not strategy.needs_prepare(profile):
        return None
    role, where = strategy.build_source(profile)
    # more lines than a node's: a failed build shows the tail of the compiler's output here
    return NodeView(strategy.build_pane, role, where, lines=deque(maxlen=BUILD_LINES), build=True)


class DeployScreen(RunsEngine, WizardScreen):
    next_label = "Summary ›"
    can_go_back = False
    changes_nodes = True

    # Escape asks before it cancels a running deploy; once the run is over it goes back.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel…"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        profile = self.state.profile
        only = set(self.state.only)
        self.views: dict[str, NodeView] = {
            node.name: NodeView(node.name, self.state.role_of(node.name), node.address)
            for node in profile.all_nodes()
            if not only or node.name in only
        }
        self.build_view = build_view(profile)
        self.finished = False
        self.run_message = ""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static("", id="deploy-summary", markup=False)
            build = [self.build_view] if self.build_view is not None else []
            yield PaneList([*build, *self.views.values()], id="panes")

    @property
    def panes(self) -> dict[str, NodePane]:
        """The panes mounted now (those in view), by node."""
        return self.query_one(PaneList).panes

    def on_mount(self) -> None:
        self.state.summary = None
        self.state.cancelled = False
        self.state.run_error = None
        super().on_mount()
        self.update_summary()
        self.set_interval(TICK, self._tick)
        options = ApplyOptions(only=self.state.only, resume=self.state.resume)
        self.start_engine(options, self.kubeha.plan())  # the plan Preview showed

    def _tick(self) -> None:
        """The running panes in view move on: their spinner and elapsed time."""
        for pane in self.panes.values():
            if pane.view.running:
                pane.refresh()

    def blocked(self) -> bool:
        return not self.finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":  # Escape: asks while the run goes on, then it means Back
            return not self.finished
        if action == "back":
            return self.finished
        return super().check_action(action, parameters)

    def update_summary(self) -> None:
        views = self.views.values()
        total = len(self.views)
        done = sum(v.finished for v in views)
        failed = sum(v.failed for v in views)
        running = sum(v.running for v in views)
        if self.finished:
            ok = total - failed
            head = f"Finished: {ok} of {total} node(s) ok, {failed} failed."
        elif self.quitting:
            head = (
                f"Stopping: {running} node(s) finishing their step (or rolling it back); "
                "kubeha quits when they are done."
            )
        elif self.bridge is not None and self.bridge.cancel.is_set():
            head = f"Cancelling: finishing the current step on {running} node(s)…"
        else:
            head = f"Deploying {total} node(s): {done} done, {running} running, {failed} failed."
        if self.run_message:
            head = f"{head} {self.run_message}"
        line = self.query_one("#deploy-summary", Static)
        if str(line.content) != head:
            line.update(head, layout=False)  # one line, fixed size: no layout on every frame
        line.set_class(failed > 0, "-failed")
        line.set_class(self.finished and failed == 0, "-done")

    def apply_events(self, events: list[Event]) -> None:
        touched: set[str] = set()
        for event in events:
            if event.node is None and event.phase == "build" and self.build_view is not None:
                self.build_view.apply(event)
                if event.status is Status.OK:
                    self.build_view.finished, self.build_view.status = True, "ready"
                    kept = list(self.build_view.lines)[-2:]  # done: as short as a node's pane
                    self.build_view.lines = deque(kept, maxlen=BUILD_LINES)
                touched.add(self.build_view.node)
                continue
            view = self.views.get(event.node or "")
            if view is None:
                if event.message:
                    self.run_message = event.message
                continue
            view.apply(event)
            touched.add(view.node)
        self.query_one(PaneList).show(touched)
        self.update_summary()

    @on(RunFinished)
    def _finished(self, message: RunFinished) -> None:
        self.flush_events()  # the last frame's events first
        summary = message.summary
        self.state.summary = summary
        self.state.cancelled = bool(self.bridge and self.bridge.cancel.is_set())
        for result in summary.nodes:
            view = self.views.get(result.node)
            if view is not None:
                view.finish(result)
        self.query_one(PaneList).show(r.node for r in summary.nodes)
        self.run_message = ""
        self.done()

    @on(RunFailed)
    def _failed(self, message: RunFailed) -> None:
        self.flush_events()
        self.state.run_error = message.error
        self.run_message = f"The run stopped: {message.error}"
        self.done()

    def done(self) -> None:
        self.finished = True
        self.update_summary()
        next_button = self.query_one("#next", Button)
        next_button.disabled = False
        next_button.focus()
        self.query_one("#back", Button).disabled = False  # the run is over: Escape goes back
        self.refresh_bindings()

    def stop_and_quit(self) -> None:
        super().stop_and_quit()
        self.update_summary()

    def action_cancel(self) -> None:
        """Escape during a run: ask, with Keep deploying focused; never cancel on one key."""
        if self.finished:
            return
        running = sum(v.running for v in self.views.values())
        self.app.push_screen(cancel_question(running), self._cancel_answered)

    def _cancel_answered(self, answer: str | None) -> None:
        if answer == "stop" and not self.finished:
            self.cancel_now()

    def action_back(self) -> None:
        if self.finished:
            self.kubeha.goto(self.previous_step())

    def cancel_now(self) -> None:
        if self.finished:
            return
        self.cancel_engine()
        self.notify("Cancelling: each node ends on its new verified config or its old one.")
        self.update_summary()
