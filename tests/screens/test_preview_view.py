"""Preview at 80 columns: long lines scroll sideways, wrap with w, the viewer maximizes with m;
the first file shown is the first node's that has files; a dry-run failure is read in full."""

from __future__ import annotations

import dataclasses

from screens.app import make_app
from screens.preview import PreviewScreen
from screens.widgets.file_view import FileView
from tests.support.examples import section
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, screen_text, wait_for, widget_text
from wizard.profile import Node


def _longest_tail(app) -> str:
    screen = app.screen
    assert isinstance(screen, PreviewScreen) and screen.current is not None
    longest = max(screen.current.file.content.splitlines(), key=len)
    assert len(longest) > 60, longest
    return longest.rstrip()[-12:]


async def test_long_lines_scroll_sideways_and_wrap() -> None:
    app = make_app(profile=example("local-nginx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down")  # the kubeadm snippet's lines are long; any file will do
        tail = _longest_tail(app)
        assert tail not in screen_text(app)  # clipped at first
        await pilot.press("tab")  # to the viewer
        assert isinstance(app.screen.focused, FileView)
        await pilot.press(*["ctrl+pagedown"] * 4)
        await pilot.pause()
        assert tail in screen_text(app)
        await pilot.press("ctrl+pageup", "ctrl+pageup", "ctrl+pageup", "ctrl+pageup")
        await pilot.press("w")
        await pilot.pause()
        assert tail in " ".join(screen_text(app).split()) or tail[-6:] in screen_text(app)
        assert app.screen.query_one(FileView).wrap


async def test_the_viewer_maximizes_and_escape_restores_it() -> None:
    app = make_app(profile=example("local-nginx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("tab", "m")
        viewer = app.screen.query_one(FileView)
        assert app.screen.maximized is viewer
        await pilot.pause()
        assert viewer.size.width >= 76
        await pilot.press("escape")
        assert app.screen.maximized is None
        assert isinstance(app.screen, PreviewScreen)  # escape gave the view back, no step change


async def test_preview_opens_on_the_first_node_that_has_files() -> None:
    profile = example("haproxy-keepalived")
    hk = dataclasses.replace(section(profile, "haproxy_keepalived"), run_on="lb-nodes")
    lbs = (Node("lb1", "192.0.2.31"), Node("lb2", "192.0.2.32"))
    profile = dataclasses.replace(
        profile, tables={**profile.tables, "haproxy_keepalived": hk}, lb_nodes=lbs
    )
    app = make_app(profile=profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        assert screen.current is not None, "no file shown"
        first = next(n for n in screen.plan.nodes if n.files)
        assert screen.current.node == first.node
        assert screen.current.file.path in screen_text(app)


async def test_a_dry_run_failure_is_shown_in_full() -> None:
    reason = "ssh: connect to host 192.0.2.21 port 22: no route to host (after 3 tries, 30 s)"
    engine = FakeEngine(fail={"worker1": reason, "worker2": reason})
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: bool(app.state.dry_run))
        await pilot.pause()
        shown = " ".join(widget_text(app, "#preview-status").split())
        assert f"worker1: {reason}" in shown
        assert f"worker2: {reason}" in shown
        assert "None" not in shown
