"""Issue 26, the wizard driven as an operator would: each finding's behaviour, by keys."""

from __future__ import annotations

import dataclasses

from textual.widgets import Button, Tree

from screens.app import make_app
from screens.start import StartScreen
from screens.strategy import StrategyScreen
from screens.widgets.confirm import ChoiceModal
from screens.widgets.file_view import FileView
from screens.widgets.strategy_card import StrategyCard
from tests.screens.fakes import FakeEngine
from tests.screens.helpers import example, never_ran, screen_text
from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir
from wizard.profile import Clients
from wizard.profile_io import load_profile


def _mistyped_strategy(folder):
    text = (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "typo.toml"
    path.write_text(text.replace('strategy = "local-nginx"', 'strategy = "local_nginx"'))
    return path


# A mistyped strategy is a problem on the Strategy step, not a traceback ------------------------


async def test_a_mistyped_strategy_opens_on_the_strategy_step_and_can_be_fixed(tmp_path) -> None:
    path = _mistyped_strategy(tmp_path)
    app = make_app(path)
    async with app.run_test(size=(100, 32)) as pilot:
        assert isinstance(app.screen, StrategyScreen)
        text = screen_text(app)
        assert "strategy: 'local_nginx': expected one of local-nginx" in text
        assert not any(card.has_class("-selected") for card in app.screen.query(StrategyCard))
        assert app.screen.query_one("#next").disabled
        await pilot.press("right", "left")  # moving between the cards does not crash either
        await pilot.press("1")
        assert app.state.profile.strategy == "local-nginx"
        assert "local_nginx" not in screen_text(app)
        assert not app.screen.query_one("#next").disabled


async def test_a_mistyped_strategy_opened_from_start_does_not_crash() -> None:
    _mistyped_strategy(user_profiles_dir())
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("down", "enter")
        assert isinstance(app.screen, StrategyScreen)
        assert "'local_nginx'" in screen_text(app)
        await pilot.press("2")
        assert app.state.profile.strategy == "haproxy-keepalived"
    assert load_profile(user_profiles_dir() / "typo.toml").strategy == "local_nginx"


# Preview says what happens to a static pod's kubeconfig ------------------------------------------


async def test_preview_says_a_static_pods_container_is_restarted() -> None:
    profile = dataclasses.replace(example("local-nginx"), clients=Clients(repoint=True))
    app = make_app(profile=profile, engine=FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one("#plan-tree", Tree)
        tree.move_cursor_to_line(tree.last_line - 2)  # controller-manager.conf
        await pilot.pause()
        shown = " ".join(app.screen.query_one(FileView).shown_text.split())
        assert "/etc/kubernetes/controller-manager.conf" in shown
        assert "No unit" not in shown
        assert "static pod kube-controller-manager" in shown
        assert "crictl stop" in shown and "kubelet starts a new one" in shown
        tree.move_cursor_to_line(tree.last_line)  # admin.conf: no unit, no pod
        await pilot.pause()
        assert "next start" in app.screen.query_one(FileView).shown_text


# Opening another profile from Start never drops unsaved edits without asking ------------------


async def _edited_then_back_at_start(pilot) -> None:
    app = pilot.app
    await pilot.press("shift+tab", "end", "-", "2")  # the profile's name
    assert app.state.dirty
    await pilot.press("escape")
    assert isinstance(app.screen, StartScreen)


async def test_opening_another_profile_asks_and_cancel_keeps_the_edits() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy", last_run=never_ran)
    async with app.run_test(size=(100, 32)) as pilot:
        await _edited_then_back_at_start(pilot)
        await pilot.press("down", "enter")  # an example
        assert isinstance(app.screen, ChoiceModal)
        text = app.screen.text()
        assert "example-local-nginx-2" in text and "not saved" in text
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # the default: Cancel
        assert isinstance(app.screen, StartScreen)
        assert app.state.profile.name == "example-local-nginx-2"
        await pilot.press("n")  # a new profile asks too
        assert isinstance(app.screen, ChoiceModal)
        await pilot.press("escape")
        assert app.state.profile.name == "example-local-nginx-2"
        await pilot.press("enter")
        app.screen.query_one("#discard", Button).press()
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceModal | StartScreen)
        assert app.state.profile.name != "example-local-nginx-2" and not app.state.dirty
    assert not user_profiles_dir().exists() or not any(user_profiles_dir().iterdir())


async def test_opening_another_profile_can_save_the_edits_first() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy", last_run=never_ran)
    async with app.run_test(size=(100, 32)) as pilot:
        await _edited_then_back_at_start(pilot)
        await pilot.press("down", "enter")
        app.screen.query_one("#save", Button).press()
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceModal | StartScreen)
        assert not app.state.dirty
    saved = user_profiles_dir() / "example-local-nginx-2.toml"
    assert load_profile(saved).name == "example-local-nginx-2"
