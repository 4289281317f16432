"""No action on one key: deploy, redeploy and quit ask first, the strategy follows a choice and
never focus, saving never overwrites another file and keeps the opened file's comments, and
every validation warning is shown before a deploy. Driven by keys against the fake engine."""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field

from textual.widgets import Button

from screens.app import make_app
from screens.balancer import BalancerScreen
from screens.deploy import DeployScreen
from screens.nodes import NodesScreen
from screens.preview import PreviewScreen
from screens.strategy import StrategyScreen
from screens.summary import SummaryScreen
from screens.widgets.confirm import ChoiceModal
from tests.support.examples import section
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, never_ran, screen_text
from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir
from wizard.profile import Node
from wizard.profile_io import load_profile, save_profile
from wizard.strategies import registry
from wizard.strategies.local_nginx.install import Install


async def _wait(pilot, condition, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def _notes(app) -> str:
    return "\n".join(f"{n.title} {n.message}" for n in app._notifications)


def _modal_text(app) -> str:
    assert isinstance(app.screen, ChoiceModal), type(app.screen).__name__
    return app.screen.text()


@dataclass
class LingeringEngine(FakeEngine):
    """The fake engine, but after a cancel its nodes take until ``release`` to finish."""

    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, plan, options, sink, cancel=None, secrets=None):
        summary = super().__call__(plan, options, sink, cancel=cancel, secrets=secrets)
        if cancel is not None and cancel.is_set():
            self.release.wait(10)
        return summary


# Deploy and redeploy ask -----------------------------------------------------------------------


async def test_ctrl_n_on_preview_asks_and_cancel_is_the_default() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.screen.active_bindings["ctrl+n"].binding.description == "Deploy"
        await pilot.press("ctrl+n")
        text = _modal_text(app)
        assert "example-local-nginx" in text and "local-nginx" in text
        assert "5 nodes" in text
        for name in ("master1", "master2", "master3", "worker1", "worker2"):
            assert name in text
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # the default: Cancel
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("ctrl+n", "escape")
        assert isinstance(app.screen, PreviewScreen)
        await pilot.pause(0.3)
        assert engine.calls == []
        await pilot.press("ctrl+n", "tab", "enter")  # to Deploy, then press it
        assert isinstance(app.screen, DeployScreen)
        await _wait(pilot, lambda: app.screen.finished)
        assert len(engine.calls) == 1 and not engine.calls[0].dry_run


async def test_dry_run_needs_no_confirmation() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        await _wait(pilot, lambda: bool(app.state.dry_run))
        assert engine.calls[-1].dry_run and isinstance(app.screen, PreviewScreen)


async def test_r_on_summary_asks_before_redeploying_the_failed_nodes() -> None:
    engine = FakeEngine(fail={"worker1": "nginx -t failed"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.screen.finished)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("r")
        text = _modal_text(app)
        assert "worker1" in text and "1 node" in text and "master1" not in text
        await pilot.press("escape")
        assert isinstance(app.screen, SummaryScreen)
        await pilot.pause(0.3)
        assert len(engine.calls) == 1
        await pilot.press("r", "y")
        await _wait(pilot, lambda: len(engine.calls) == 2)
        assert engine.calls[-1].only == ("worker1",)


async def test_hundreds_of_nodes_are_named_in_a_few_lines() -> None:
    base = example("local-nginx")
    workers = tuple(Node(f"w{i}", f"10.1.{i // 200}.{i % 200 + 1}") for i in range(300))
    app = make_app(profile=dataclasses.replace(base, workers=workers), engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n")
        text = _modal_text(app)
        assert "303 nodes" in text
        assert "master1" in text and "w0" in text and "w299" in text
        assert "more" in text and "w150," not in text
        box = app.screen.query_one("#confirm-box")
        assert box.region.height <= 30


# Warnings --------------------------------------------------------------------------------------


async def test_warnings_show_on_preview_and_in_the_confirmation() -> None:
    one_master = dataclasses.replace(
        example("local-nginx"), masters=example("local-nginx").masters[:1]
    )
    app = make_app(profile=one_master, engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, PreviewScreen)  # opened straight at Preview
        assert "not highly available" in screen_text(app)
        await pilot.press("ctrl+n")
        assert "not highly available" in _modal_text(app)


# The strategy is chosen, never focused into ----------------------------------------------------


async def test_tab_across_the_cards_keeps_the_chosen_strategy() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, StrategyScreen)
        assert app.state.profile.strategy == "local-nginx"
        await pilot.press(*["tab"] * (len(registry.names()) + 1))  # every card, then Next
        assert app.focused is not None and app.focused.id == "next"
        assert app.state.profile.strategy == "local-nginx"
        await pilot.press("enter")
        assert isinstance(app.screen, NodesScreen)
        assert app.state.profile.strategy == "local-nginx"


async def test_enter_space_number_and_click_choose_and_show_it() -> None:
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n", "right")
        screen = app.screen
        assert app.focused is screen.query_one("#card-haproxy-keepalived")
        assert app.state.profile.strategy == "local-nginx"
        assert "chosen" in str(screen.query_one("#card-local-nginx").border_subtitle)
        assert "● chosen" not in str(screen.query_one("#card-haproxy-keepalived").border_subtitle)
        await pilot.press("enter")
        assert app.state.profile.strategy == "haproxy-keepalived"
        assert isinstance(app.screen, StrategyScreen)
        assert "● chosen" in str(screen.query_one("#card-haproxy-keepalived").border_subtitle)
        assert "● chosen" not in str(screen.query_one("#card-local-nginx").border_subtitle)
        await pilot.press("right", "space")
        assert app.state.profile.strategy == "ipvs"
        await pilot.press("1")
        assert app.state.profile.strategy == "local-nginx"
        await pilot.click("#card-haproxy-keepalived")
        assert app.state.profile.strategy == "haproxy-keepalived"


def _source_profile():
    install = Install(method="source", source_package_version="1.22.1-9", source_sha256="a" * 64)
    return dataclasses.replace(example("local-nginx"), tables={"install": install})


async def test_focus_never_resets_the_install_method() -> None:
    app = make_app(profile=_source_profile(), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("tab", "tab", "tab")  # across haproxy and IPVS
        assert section(app.state.profile, "install").method == "source"
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, BalancerScreen)
        for _ in range(20):
            await pilot.press("tab")
        assert section(app.state.profile, "install").method == "source"
        assert app.state.profile == _source_profile()


# Quit asks when something would be lost --------------------------------------------------------


async def test_quit_without_changes_exits_at_once() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0


async def test_quit_with_unsaved_changes_asks_save_discard_or_cancel() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("shift+tab", "end", "-", "2")  # the profile's name
        assert app.state.profile.name == "example-local-nginx-2"
        await pilot.press("ctrl+q")
        assert "example-local-nginx-2" in _modal_text(app)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")
        assert isinstance(app.screen, StrategyScreen) and app.return_code is None
        await pilot.press("ctrl+q")
        app.screen.query_one("#save", Button).press()
        await _wait(pilot, lambda: app.return_code is not None)
    saved = user_profiles_dir() / "example-local-nginx-2.toml"
    assert load_profile(saved).name == "example-local-nginx-2"


async def test_quit_discarding_changes_writes_nothing() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.press("ctrl+q")
        app.screen.query_one("#discard", Button).press()
        await _wait(pilot, lambda: app.return_code is not None)
    assert not user_profiles_dir().exists() or not any(user_profiles_dir().iterdir())


async def test_quit_during_a_deploy_asks_then_shows_the_nodes_stopping() -> None:
    engine = LingeringEngine(wait_for_cancel_after=2)
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, engine.waiting.is_set)
        await pilot.press("ctrl+q")
        text = _modal_text(app)
        assert "finish or roll back" in text
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("escape")  # keep deploying
        assert isinstance(app.screen, DeployScreen) and not engine.cancel_seen.is_set()
        await pilot.press("ctrl+q")
        app.screen.query_one("#stop", Button).press()
        await _wait(pilot, engine.cancel_seen.is_set)
        await pilot.pause(0.2)
        assert isinstance(app.screen, DeployScreen) and app.return_code is None
        status = str(app.screen.query_one("#deploy-summary").render())
        assert "Stopping" in status and "finishing their step" in status
        engine.release.set()
        await _wait(pilot, lambda: app.return_code is not None)


# Saving never surprises ------------------------------------------------------------------------


async def test_save_asks_before_overwriting_another_profile() -> None:
    other = dataclasses.replace(example("ipvs"), name="example-local-nginx")
    target = save_profile(other, user_profiles_dir() / "example-local-nginx.toml")
    before = target.read_text()
    app = make_app(profile=example("local-nginx"), engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        assert str(target) in _modal_text(app)
        await pilot.press("enter")  # Cancel is the default
        assert target.read_text() == before
        await pilot.press("s", "tab", "enter")  # Overwrite
        await pilot.pause()
        assert load_profile(target) == example("local-nginx")
        assert str(target) in _notes(app)
        await pilot.press("s")  # the same file again: no question
        assert not isinstance(app.screen, ChoiceModal)


async def test_save_goes_back_to_the_opened_file_and_keeps_its_comments(tmp_path) -> None:
    text = (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text()
    opened = tmp_path / "mine.toml"
    opened.write_text(text)
    os.chmod(opened, 0o600)
    app = make_app(opened, engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#f-local-nginx-listen-port").focus()
        await pilot.press("ctrl+u", *"9443")
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceModal)
        assert str(opened) in _notes(app)
    saved = opened.read_text()
    assert section(load_profile(opened), "local_nginx").listen_port == 9443
    assert saved == text.replace("listen_port = 8443", "listen_port = 9443")
    assert os.stat(opened).st_mode & 0o777 == 0o600
    assert not user_profiles_dir().exists() or not any(user_profiles_dir().iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]


async def test_a_renamed_profile_is_saved_as_its_new_name_and_its_file_left(tmp_path) -> None:
    text = (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text()
    opened = tmp_path / "mine.toml"
    opened.write_text(text)
    app = make_app(opened, engine=FakeEngine(), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("shift+tab", "end", "-", "2")
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "s")
        await pilot.pause()
    assert opened.read_text() == text
    new = user_profiles_dir() / "example-local-nginx-2.toml"
    assert new.read_text() == text.replace('"example-local-nginx"', '"example-local-nginx-2"')


async def test_saved_profile_is_no_longer_unsaved() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        assert app.state.dirty
        await pilot.press("1", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")
        assert not app.state.dirty  # back to what was opened
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0
