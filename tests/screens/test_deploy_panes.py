"""The deploy screen as an operator reads it: a running pane spins and counts its time, a
failed one never shows a full bar or its reason twice, and Escape asks before it cancels."""

from __future__ import annotations

import dataclasses
import re
import threading

from screens.app import make_app
from screens.deploy import DeployScreen
from screens.node_text import SPINNER
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, wait_for, widget_text
from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState, RunSummary


@dataclasses.dataclass
class SlowEngine(FakeEngine):
    """master1 starts connecting, then waits until cancelled; the rest never start."""

    started: threading.Event = dataclasses.field(default_factory=threading.Event)

    def __call__(self, plan, options, sink, cancel=None, secrets=None):
        profile = plan.profile
        cancel = cancel or threading.Event()
        sink(Event("master1", "connect", Status.STARTED, "connecting…"))
        self.started.set()
        if cancel.wait(20):
            self.cancel_seen.set()
        nodes = tuple(
            NodeResult(n.name, NodeState.UNTOUCHED, "cancelled") for n in profile.all_nodes()
        )
        return RunSummary("run-0001", profile.name, nodes, self.log_path)


@dataclasses.dataclass
class FailingEngine(FakeEngine):
    """worker1's failing step says why, and its result says the same; verify is skipped at 100%."""

    def __call__(self, plan, options, sink, cancel=None, secrets=None):
        profile = plan.profile
        results = []
        for node in profile.all_nodes():
            if node.name == "worker1":
                sink(Event("worker1", "activate", Status.FAILED, "nginx -t: unknown directive"))
                sink(Event("worker1", "verify", Status.SKIPPED, "not verified", progress=1.0))
                results.append(
                    NodeResult("worker1", NodeState.ROLLED_BACK, "nginx -t: unknown directive")
                )
            else:
                sink(Event(node.name, "verify", Status.OK, "ok", progress=1.0))
                results.append(NodeResult(node.name, NodeState.VERIFIED))
        return RunSummary("run-0001", profile.name, tuple(results), self.log_path)


async def _deploy(pilot) -> None:
    await pilot.press("ctrl+n")
    if pilot.app.screen.__class__.__name__ == "ChoiceModal":
        await pilot.press("y")  # the deploy question
    assert isinstance(pilot.app.screen, DeployScreen)


def seconds_shown(text: str) -> int:
    """The largest ``Ns`` count in a pane's text (0 when none)."""
    return max((int(n) for n in re.findall(r"\b(\d+)s\b", text)), default=0)


async def test_a_running_pane_spins_and_counts_its_time() -> None:
    engine = SlowEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await _deploy(pilot)
        await wait_for(pilot, engine.started.is_set)

        def pane() -> str:
            return widget_text(app, "#pane-master1")

        await wait_for(pilot, lambda: any(frame in pane() for frame in SPINNER))
        first = pane()
        assert re.search(r"\b\d+s\b", first), first  # its time is shown
        # Time goes on and the spinner turns (a loaded host may take longer: the engine waits
        # 20 s to be cancelled, the deadline here is 10 s).
        await wait_for(pilot, lambda: seconds_shown(pane()) > seconds_shown(first), timeout=10)
        assert pane() != first
        assert not any(frame in widget_text(app, "#pane-master2") for frame in SPINNER)


async def test_a_failed_pane_shows_fail_not_100_and_its_reason_once() -> None:
    app = make_app(profile=example("local-nginx"), engine=FailingEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await _deploy(pilot)
        await wait_for(pilot, lambda: app.screen.finished)
        await pilot.pause()
        pane = widget_text(app, "#pane-worker1")
        assert "100%" not in pane and "fail" in pane
        assert pane.count("nginx -t: unknown directive") == 1, pane
        assert "100%" in widget_text(app, "#pane-master1")


async def test_escape_asks_before_cancelling_and_goes_back_once_done() -> None:
    engine = SlowEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await _deploy(pilot)
        await wait_for(pilot, engine.started.is_set)
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "ChoiceModal"
        assert "Cancel the deploy?" in app.screen.text()
        await pilot.press("escape")  # Keep deploying
        assert isinstance(app.screen, DeployScreen) and not engine.cancel_seen.is_set()
        await pilot.press("escape", "y")
        await wait_for(pilot, lambda: app.screen.finished)
        assert engine.cancel_seen.is_set()
        await pilot.press("escape")  # the run is over: back to Preview
        assert app.screen.step == "preview"
