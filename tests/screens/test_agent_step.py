"""The node agent on the strategy's step: its ``[agent]`` rows under "Node agent" for
local-nginx and local-haproxy, a checkbox that turns it on, and Preview then showing its files
on every node (the pyz first)."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox

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
