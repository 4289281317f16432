"""Keys an operator expects: ? and F1 list every key of the step, q / ctrl+q / ctrl+c quit the
same way on every step, Escape goes back, the palette runs the step's commands and the theme
picked there is remembered."""

from __future__ import annotations

import stat

from screens.app import make_app
from screens.help import HelpScreen
from screens.preview import PreviewScreen
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, never_ran, screen_text, wait_for
from wizard.settings import settings_path


async def test_question_mark_lists_every_key_of_the_strategy_step() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("tab", "shift+tab")  # focus off the name field: ? would be typed
        app.screen.query_one("#cards").children[0].focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key, does in (("1", "nginx"), ("2", "haproxy"), ("3", "IPVS"), ("^n", "Next")):
            assert any(key in line and does in line for line in text.splitlines()), (key, does)
        assert "esc" in text and "Back" in text and "Quit" in text and "Help" in text
        await pilot.press("escape")
        assert app.screen.step == "strategy"


async def test_f1_on_start_lists_resume_and_on_preview_the_file_view_keys() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f1")
        text = screen_text(app)
        assert "Resume install" in text and "New profile" in text
        await pilot.press("f1")
        assert not isinstance(app.screen, HelpScreen)
    app = make_app(profile=example("local-nginx"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f1")
        text = screen_text(app)
        assert "Dry run" in text and "Wrap" in text and "Maximize" in text and "m, f11" in text


async def _quits(app, *keys: str) -> bool:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        return app._exit  # set by App.exit


async def test_q_and_ctrl_c_quit_on_every_step_like_ctrl_q() -> None:
    for key in ("q", "ctrl+c", "ctrl+q"):
        assert await _quits(make_app(last_run=never_ran), key), key
        assert await _quits(make_app(profile=example("ipvs")), key), key  # Preview


async def test_q_in_a_text_field_is_typed_not_quit() -> None:
    app = make_app(profile=example("ipvs"), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#profile-name").focus()
        await pilot.press("end", "q")
        assert not app._exit
        assert app.state.profile.name.endswith("q")


async def test_escape_goes_back_from_summary() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n")
        if app.screen.__class__.__name__ == "ChoiceModal":
            await pilot.press("y")
        await wait_for(pilot, lambda: getattr(app.screen, "finished", False))
        await pilot.press("ctrl+n")
        assert app.screen.step == "summary"
        await pilot.press("escape")
        assert isinstance(app.screen, PreviewScreen)


async def _palette(pilot, query: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*query)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause()


async def test_the_palette_runs_dry_run_and_copy_on_preview() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await _palette(pilot, "Dry run")
        await wait_for(pilot, lambda: bool(app.state.dry_run))
        assert engine.calls[-1].dry_run
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await _palette(pilot, "Copy")
        assert copied and copied[0] == app.screen.current.file.content
        await _palette(pilot, "Deploy")
        await pilot.pause()
        shown = app.screen.__class__.__name__
        assert shown in ("ChoiceModal", "DeployScreen"), shown  # asks first, once E's dialog is in


async def test_the_palette_verifies_on_summary() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("ctrl+n")
        if app.screen.__class__.__name__ == "ChoiceModal":
            await pilot.press("y")
        await wait_for(pilot, lambda: getattr(app.screen, "finished", False))
        await pilot.press("ctrl+n")
        table = app.screen.query_one("#verify")
        await wait_for(pilot, lambda: table.row_count == 5)
        table.clear()
        await _palette(pilot, "Verify")
        await wait_for(pilot, lambda: table.row_count == 5)


async def test_the_theme_picked_is_remembered() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 30)) as pilot:
        await _palette(pilot, "Theme")
        await pilot.press(*"nord")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, settings_path().exists)
        assert app.theme == "nord"
    assert stat.S_IMODE(settings_path().stat().st_mode) == 0o600
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "nord"


async def test_the_help_key_is_in_the_footer_of_every_step_at_80_columns() -> None:
    for step in ("strategy", "nodes", "balancer", "ssh", "clients", "preview"):
        app = make_app(profile=example("local-nginx"), initial_step=step)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            footer = screen_text(app).splitlines()[-1]
            assert "f1 Help" in footer, (step, footer)
