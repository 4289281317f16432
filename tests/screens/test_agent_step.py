"""The node agent on the strategy's step: its ``[agent]`` rows under "Node agent" for
local-nginx and local-haproxy, a checkbox that turns it on, and Preview then showing its files
on every node (the pyz first)."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input

from screens.app import make_app
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example
from wizard.render import build_plan
from wizard.strategies import node_agent


@pytest.mark.parametrize("strategy", ["local-nginx", "local-haproxy"])
async def test_the_agent_is_a_choice_on_the_strategy_step(strategy) -> None:
    app = make_app(profile=example(strategy), engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(120, 50)) as pilot:
        enabled = app.screen.query_one("#f-agent-enabled", Checkbox)
        discovery = app.screen.query_one("#f-agent-discovery", Checkbox)
        assert not enabled.value and not discovery.value
        for box in (enabled, discovery):
            box.focus()
            await pilot.press("space")
        await pilot.pause()
        wanted = node_agent.agent_of(app.state.profile)
        assert wanted.enabled and wanted.discovery
        for node in build_plan(app.state.profile).nodes:  # what Preview shows
            assert node.files[0].path == node_agent.PYZ_PATH


async def test_rebalance_is_shown_off_and_its_ratio_reaches_the_agents_config() -> None:
    app = make_app(profile=example("local-haproxy"), engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(120, 60)) as pilot:
        rebalance = app.screen.query_one("#f-agent-rebalance", Checkbox)
        ratio = app.screen.query_one("#f-agent-rebalance-ratio", Input)
        assert not rebalance.value and ratio.value == "1.25"
        for box in (app.screen.query_one("#f-agent-enabled", Checkbox), rebalance):
            box.focus()
            await pilot.press("space")
        ratio.focus()
        ratio.value = "1.5"
        await pilot.press("tab")
        await pilot.pause()
        wanted = node_agent.agent_of(app.state.profile)
        assert wanted.enabled and wanted.rebalance and wanted.rebalance_ratio == 1.5
        files = {f.path: f for f in build_plan(app.state.profile).nodes[0].files}  # Preview
        assert '"ratio": 1.5' in files[node_agent.CONFIG_PATH].content
