"""What keeps the wizard fast, checked by what it does rather than by a clock (timings are in
bench/wizard_timing.py): the deploy screen mounts only the panes in view, engine events are
applied per frame, a step's screen is built once, and starting the wizard does not import the
renderer or the engine."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field

from textual.widgets import Input

from bench.wizard_probe import many_node_profile
from screens.app import make_app
from screens.deploy import DeployScreen
from screens.widgets.node_pane import NodePane
from screens.widgets.pane_list import PaneList
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example
from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState, RunSummary


async def _wait(pilot, condition, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def test_deploy_of_200_nodes_mounts_only_the_panes_in_view() -> None:
    engine = FakeEngine(fail={"worker190": "nginx -t failed"})
    app = make_app(profile=many_node_profile(200), engine=engine, initial_step="deploy")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        await _wait(pilot, lambda: screen.finished)
        widgets = len(list(screen.walk_children(with_self=True)))
        panes = screen.query(NodePane)
        assert len(screen.views) == 200
        assert len(panes) <= 12 and widgets <= 60, (len(panes), widgets)
        assert panes.first().view.node == "master1"
        pane_list = screen.query_one(PaneList)
        pane_list.scroll_end(animate=False)
        await pilot.pause()
        await pilot.pause()
        names = [p.view.node for p in screen.query(NodePane)]
        assert "master1" not in names and names[-1] == "worker197"
        assert len(names) <= 12
        screen.query_one("#pane-worker190").scroll_visible(animate=False)
        await pilot.pause()
        assert screen.query_one("#pane-worker190").has_class("-failed")
        assert "Finished: 199 of 200 node(s) ok, 1 failed." in str(
            screen.query_one("#deploy-summary").render()
        )


@dataclass
class FloodEngine:
    """Sends ``events`` events as fast as it can, then waits until the test lets it return."""

    events: int = 3000
    connects: bool = False  # scripted: the wizard may run it on the example addresses
    sent: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    def __call__(self, plan, options, sink, cancel=None, secrets=None) -> RunSummary:
        profile = plan.profile
        names = [n.name for n in profile.all_nodes()]
        for i in range(self.events):
            sink(Event(names[i % len(names)], "upload", Status.INFO, f"line {i}"))
        self.sent.set()
        self.go_on.wait(10)
        nodes = tuple(NodeResult(n, NodeState.VERIFIED) for n in names)
        return RunSummary("run-0001", profile.name, nodes, None)


async def test_a_flood_of_events_is_applied_in_a_few_frames() -> None:
    engine = FloodEngine()
    app = make_app(profile=example("local-nginx"), engine=engine, initial_step="deploy")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        await _wait(pilot, engine.sent.is_set)
        await _wait(pilot, lambda: screen.bridge.received == engine.events)
        await _wait(pilot, lambda: "line 2999" in screen.views["worker2"].lines)
        assert 1 <= screen.flushes <= engine.events // 10, screen.flushes
        engine.go_on.set()
        await _wait(pilot, lambda: screen.finished)


async def test_going_back_reuses_the_screen_and_keeps_what_was_typed() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(100, 30)) as pilot:
        balancer = app.screen
        app.goto("ssh")
        await pilot.pause()
        ssh = app.screen
        user = ssh.query_one("#form Input", Input)
        user.value = "ops"
        await pilot.pause()
        app.goto("balancer")
        await pilot.pause()
        assert app.screen is balancer
        app.goto("ssh")
        await pilot.pause()
        assert app.screen is ssh  # its own edit does not make it stale
        assert ssh.query_one("#form Input", Input).value == "ops"
        built = app.step_screens.built
        app.goto("preview")
        await pilot.pause()
        preview = app.screen
        app.goto("ssh")
        await pilot.pause()
        app.goto("preview")
        await pilot.pause()
        assert app.screen is preview and app.step_screens.built == built + 1


async def test_a_screen_whose_part_of_the_profile_changed_is_built_again() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(100, 30)) as pilot:
        balancer = app.screen
        app.goto("strategy")
        await pilot.pause()
        app.state.profile = dataclasses.replace(app.state.profile, strategy="ipvs")
        app.goto("balancer")
        await pilot.pause()
        assert app.screen is not balancer  # built again: it shows the IPVS fields now
        assert app.screen.query("#f-ipvs-vip") and not balancer.is_attached


FIRST_SCREEN = textwrap.dedent(
    """
    import gc
    import sys
    import textual.app

    seen = {}

    def run(self, **_):
        shown = self._display

        def display(screen, renderable):  # the first paint of a wizard screen: look, leave
            shown(screen, renderable)
            if renderable is not None and "screen" not in seen and screen.name:
                seen["screen"] = type(screen).__name__
                seen["modules"] = sorted(sys.modules)
                self.set_timer(2.0, leave)  # the other steps' modules load in the meantime

        def leave():
            seen["preloaded"] = "screens.preview" in sys.modules and gc.isenabled()
            self.exit()

        self._display = display
        return original(self, headless=True, size=(80, 24))

    original = textual.app.App.run
    textual.app.App.run = run
    import wizard.commands.wizard_command as command
    command.has_terminal = lambda: True
    from wizard.cli import main
    main([])
    heavy = ("fabric", "paramiko", "jinja2", "wizard.render", "wizard.engine.apply",
             "screens.clients", "screens.preview", "screens.deploy", "screens.summary")
    print(seen["screen"], seen["preloaded"], *[m for m in heavy if m in seen["modules"]])
    """
)


def test_kubeha_opens_the_start_screen_without_the_renderer_or_the_engine(tmp_path) -> None:
    """``kubeha`` to the first paint of Start: neither fabric, paramiko, jinja2, the renderer,
    the engine nor the later steps' screens are imported by then."""
    out = subprocess.run(
        [sys.executable, "-c", FIRST_SCREEN],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    # and once it is up, the other steps are imported and garbage collection is back on
    assert out.stdout.split() == ["StartScreen", "True"], out.stdout + out.stderr
