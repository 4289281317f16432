"""The Masters and nodes step: validated as you type, Next blocked while anything is invalid."""

from __future__ import annotations

from textual.widgets import Button, TextArea

from screens.app import make_app
from screens.node_text import format_nodes, parse_nodes
from screens.nodes import NodesScreen
from tests.support.screen_helpers import never_ran, screen_text
from wizard.profile import Master

BAD = "error: Masters line 2 address: '10.0.0.300': expected an IPv4 or IPv6 address or a host name, e.g. 10.0.0.11"


async def test_bad_ip_keeps_next_disabled_until_fixed() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")  # Start: new profile
        await pilot.press("ctrl+n")  # Strategy: keep local-nginx
        assert isinstance(app.screen, NodesScreen)
        next_button = app.screen.query_one("#next", Button)
        assert next_button.disabled  # no master yet
        await pilot.press(*"10.0.0.11", "enter", *"10.0.0.300", "enter", *"10.0.0.13")
        await pilot.pause()
        assert next_button.disabled
        assert BAD in str(app.screen.query_one("#problems").render())
        assert "1 error(s) to fix" in screen_text(app)
        await pilot.press("ctrl+n")  # refused
        assert isinstance(app.screen, NodesScreen)
        area = app.screen.query_one("#text-masters", TextArea)
        area.text = "10.0.0.11\n10.0.0.12\n10.0.0.13"
        await pilot.pause()
        assert not next_button.disabled
        assert [m.address for m in app.state.profile.masters] == [
            "10.0.0.11",
            "10.0.0.12",
            "10.0.0.13",
        ]
        await pilot.press("ctrl+n")
        assert app.screen.step == "balancer"


async def test_pasted_list_and_bad_port_text() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "ctrl+n")
        area = app.screen.query_one("#text-masters", TextArea)
        area.text = "m1 10.0.0.11 64x3\n"
        await pilot.pause()
        assert app.screen.query_one("#next", Button).disabled
        assert "Masters line 1 apiserver_port: '64x3'" in str(
            app.screen.query_one("#problems").render()
        )
        area.text = "10.0.0.11, 10.0.0.12, 10.0.0.13"
        await pilot.pause()
        assert not app.screen.query_one("#next", Button).disabled
        assert [m.name for m in app.state.profile.masters] == ["master1", "master2", "master3"]


def test_parse_nodes_forms() -> None:
    nodes, problems = parse_nodes("a 10.0.0.1 7443\n10.0.0.2 10.0.0.3\n\nc host.example", "masters")
    assert problems == []
    assert nodes == (
        Master("a", "10.0.0.1", 7443),
        Master("master2", "10.0.0.2"),
        Master("master3", "10.0.0.3"),
        Master("c", "host.example"),
    )
    assert format_nodes(nodes).splitlines()[0] == "a 10.0.0.1 7443"
    _, problems = parse_nodes("a b c d", "workers")
    assert [p.field for p in problems] == ["workers[0]"]
