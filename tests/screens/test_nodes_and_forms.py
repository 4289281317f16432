"""What the Nodes, Balancer and SSH steps show: errors by line, never None, never cut off; a
checkbox that reads on or off; a node's own SSH settings shown and kept through a rename."""

from __future__ import annotations

import dataclasses

from textual.widgets import Checkbox, TextArea

from screens.app import make_app
from screens.nodes import NodesScreen
from screens.widgets.problem_list import ProblemList
from tests.support.examples import section
from tests.support.screen_helpers import example, never_ran, screen_text, widget_text
from wizard.profile import Node, SshTarget


async def _new_profile_nodes(pilot) -> None:
    await pilot.press("n")  # Start: new profile
    await pilot.press("ctrl+n")  # Strategy: keep local-nginx
    assert isinstance(pilot.app.screen, NodesScreen)


async def test_node_errors_name_the_line_as_the_text_area_shows_it() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 30)) as pilot:
        await _new_profile_nodes(pilot)
        await pilot.press(*"10.0.0.11", "enter", "enter", *"10.0.0.12", "enter")
        await pilot.press(*"m3 10.0.0.300", "enter", *"m4 10.0.0.14 64x3")
        await pilot.pause()
        shown = str(app.screen.query_one("#problems").render())
        # 1-based, as the text area shows them; the blank line 2 counts
        assert "Masters line 5 apiserver_port: '64x3'" in shown
        assert "Masters line 4 address: '10.0.0.300'" in shown
        assert "masters[" not in shown


async def test_an_empty_value_reads_empty_not_none() -> None:
    profile = example("haproxy-keepalived")
    hk = dataclasses.replace(section(profile, "haproxy_keepalived"), vip="")
    app = make_app(
        profile=dataclasses.replace(profile, tables={**profile.tables, "haproxy_keepalived": hk})
    )
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.screen.step == "balancer"
        await pilot.pause()
        shown = str(app.screen.query_one("#problems").render())
        assert "haproxy_keepalived.vip: (empty):" in shown
        assert "None" not in shown and "''" not in shown


async def test_three_long_errors_at_80_columns_can_all_be_read() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(80, 24)) as pilot:
        await _new_profile_nodes(pilot)
        for n in (1, 2, 3, 4):
            await pilot.press(*f"m{n} 10.0.0.{300 + n}", "enter")
        await pilot.pause()
        last = "'10.0.0.304'"
        if last not in screen_text(app):  # more than fits: the list scrolls
            problems = app.screen.query_one(ProblemList)
            assert problems.can_focus
            while app.screen.focused is not problems:
                await pilot.press("tab")
            await pilot.press("end")
            await pilot.pause()
        assert last in widget_text(app, "#problem-list")


async def test_a_checkbox_reads_on_or_off() -> None:
    app = make_app(profile=example("haproxy-keepalived"), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        box = app.screen.query_one("#f-haproxy-keepalived-unicast", Checkbox)
        while app.screen.focused is not box:
            await pilot.press("tab")
        before = widget_text(app, "#f-haproxy-keepalived-unicast")
        await pilot.press("space")
        await pilot.pause()
        after = widget_text(app, "#f-haproxy-keepalived-unicast")
        assert section(app.state.profile, "haproxy_keepalived").unicast is False
        assert "on" in before and "off" in after


def _with_own_ssh():
    profile = example("local-nginx")
    worker = dataclasses.replace(profile.workers[0], ssh=SshTarget(port=2222, user="ops"))
    return dataclasses.replace(profile, workers=(worker, *profile.workers[1:]))


async def test_a_nodes_own_ssh_settings_show_and_survive_a_rename() -> None:
    profile = _with_own_ssh()
    address = profile.workers[0].address
    app = make_app(profile=profile, initial_step="nodes")
    async with app.run_test(size=(120, 30)) as pilot:
        area = app.screen.query_one("#text-workers", TextArea)
        assert area.text.splitlines()[0] == f"worker1 {address} ssh=ops@:2222"
        area.focus()
        await pilot.press("home", *["delete"] * len("worker1"), *"edge1")
        await pilot.pause()
        assert app.state.profile.workers[0] == Node("edge1", address, SshTarget(None, 2222, "ops"))
        await pilot.press("ctrl+n", "ctrl+n")
        assert app.screen.step == "ssh"
        assert "edge1: user ops, port 2222" in screen_text(app)
        await pilot.press("escape", "escape")  # back to Nodes: rename again
        assert app.screen.step == "nodes"
        app.screen.query_one("#text-workers", TextArea).focus()
        await pilot.press("home", *["delete"] * len("edge1"), *"edge2")
        await pilot.press("ctrl+n", "ctrl+n")
        assert "edge2: user ops, port 2222" in screen_text(app)  # the kept SSH step follows
