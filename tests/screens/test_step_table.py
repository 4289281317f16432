"""A wizard step is one row of ``screens.steps.TABLE``: a dummy row, with its screen class
here, shows up in the step bar, the help, the palette, Back/Next and jumping, and owns the
problems of its fields (marked in the step bar, blocking Next and the steps after it)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Button, Static

from screens import state as state_module
from screens import steps
from screens.app import make_app
from screens.base import WizardScreen
from screens.help import HelpScreen
from screens.palette import step_commands
from screens.state import WizardState, first_step_with_errors
from screens.widgets.step_bar import StepBar
from tests.support.screen_helpers import example, screen_text
from wizard.problems import Problem


class DummyScreen(WizardScreen):
    show_problems = True
    BINDINGS: ClassVar[list[BindingType]] = [Binding("z", "zap", "Zap the dummy")]
    zapped = 0

    def compose_body(self) -> ComposeResult:
        yield Static("the dummy step", id="dummy-body")

    def action_zap(self) -> None:
        self.zapped += 1


DUMMY = steps.Step(
    "dummy",
    "Dummy",
    f"{__name__}:DummyScreen",
    owns=("dummy",),
    commands=(steps.Command("zap", "Zap", "Zap the dummy"),),
)
DUMMY_PROBLEM = Problem("dummy.size", 0, "a size above 0")


@pytest.fixture
def dummy_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one change a new step needs: its row, here after Clients."""
    rows = steps.TABLE
    after = steps.names().index("clients") + 1
    monkeypatch.setattr(steps, "TABLE", (*rows[:after], DUMMY, *rows[after:]))


@pytest.fixture
def dummy_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation finds a problem in the dummy step's field (the profile has none such)."""
    validate = state_module.validate
    monkeypatch.setattr(state_module, "validate", lambda p: [*validate(p), DUMMY_PROBLEM])


def test_the_row_is_the_steps_place_title_and_scope(dummy_row: None) -> None:
    order = steps.names()
    assert order[order.index("clients") + 1 :][:2] == ("dummy", "preview")
    assert steps.title("dummy") == "Dummy" and "dummy" in steps.editing()
    assert steps.step_of(DummyScreen) == "dummy"
    assert state_module.problems_for([DUMMY_PROBLEM], "dummy") == [DUMMY_PROBLEM]
    assert state_module.problems_for([DUMMY_PROBLEM], "clients") == []


async def test_the_dummy_step_is_in_the_bar_the_help_the_palette_and_back_next(
    dummy_row: None,
) -> None:
    app = make_app(profile=example("local-nginx"), initial_step="clients")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert " Clients  › Dummy › Preview" in str(app.screen.query_one(StepBar).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DummyScreen) and screen.step == "dummy"
        assert "the dummy step" in screen_text(app)
        screen.query_one("#next", Button).focus()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Keys: Dummy" in text and "Zap the dummy" in text
        await pilot.press("escape")
        assert [c.title for c in step_commands(screen)] == ["Zap"]
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Go to Clients" in titles and "Go to Dummy" not in titles
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.step == "preview"
        assert "Go to Dummy" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.step == "dummy"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.step == "clients"


async def test_the_dummy_steps_problems_are_its_own(dummy_row: None, dummy_problem: None) -> None:
    profile = example("local-nginx")
    assert first_step_with_errors(profile) == "dummy"
    assert WizardState(profile=profile).step_levels() == {"dummy": "error"}
    app = make_app(profile=profile)  # opens at the first step with an error
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DummyScreen)
        assert "Dummy!" in str(screen.query_one(StepBar).render())
        assert screen.query_one("#next", Button).disabled
        assert "dummy.size" in screen_text(app)
        assert not app.reachable("preview") and app.reachable("clients")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen is screen  # Next is blocked by the dummy's own problem
