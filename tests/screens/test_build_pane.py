"""The deploy screen shows the kube-nginx build (install method source or binary) as its own
pane before the node panes, against a scripted engine."""

from __future__ import annotations

import dataclasses

from screens.app import make_app
from screens.deploy import DeployScreen
from screens.widgets.node_pane import NodePane
from tests.support.examples import section
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example
from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState, RunSummary
from wizard.strategies.local_nginx import BUILD_PANE


def source_profile():
    profile = example("local-nginx")
    install = dataclasses.replace(
        section(profile, "install"), method="source", source_package_version="1.22.1-9+deb12u9"
    )
    return dataclasses.replace(profile, tables={**profile.tables, "install": install})


@dataclasses.dataclass
class BuildingEngine(FakeEngine):
    build_fails: bool = False

    def __call__(self, plan, options, sink, cancel=None, secrets=None):
        profile = plan.profile
        sink(Event(None, "build", Status.STARTED, "kube-nginx from source on local", progress=0.1))
        sink(Event(None, "build", Status.INFO, "make", progress=0.5))
        if self.build_fails:
            sink(
                Event(
                    None, "build", Status.FAILED, "make failed on local (exit 2)", ("x.c:1: error",)
                )
            )
            nodes = tuple(
                NodeResult(n.name, NodeState.UNTOUCHED, "not started: the build failed")
                for n in profile.all_nodes()
            )
            return RunSummary("run-0001", profile.name, nodes, self.log_path)
        sink(Event(None, "build", Status.OK, "built kube-nginx 1.22.1 on local", progress=1.0))
        return super().__call__(plan, options, sink, cancel, secrets)


async def _deploy(engine):
    app = make_app(profile=source_profile(), engine=engine)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("ctrl+n", "y")
        assert isinstance(app.screen, DeployScreen)
        for _ in range(100):
            if app.screen.finished:
                break
            await pilot.pause(0.05)
        panes = list(app.screen.query(NodePane))
        return panes, str(app.screen.query_one("#deploy-summary").render())


async def test_the_build_has_its_own_pane_before_the_nodes() -> None:
    panes, summary = await _deploy(BuildingEngine())
    assert panes[0].view.node == BUILD_PANE and panes[0].view.address == "local"
    assert panes[0].view.finished and not panes[0].view.failed
    assert "built kube-nginx 1.22.1" in panes[0].view.message
    assert "Finished: 5 of 5 node(s) ok" in summary  # the build pane is not a node


async def test_a_failed_build_shows_its_output_and_no_node_runs() -> None:
    panes, summary = await _deploy(BuildingEngine(build_fails=True))
    assert panes[0].view.failed and "x.c:1: error" in panes[0].view.lines
    assert all(p.view.status == "untouched" for p in panes[1:])
    assert "0 of 5" in summary or "5 failed" in summary


async def test_package_installs_have_no_build_pane() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("ctrl+n", "y")
        assert all(p.view.node != BUILD_PANE for p in app.screen.query(NodePane))
