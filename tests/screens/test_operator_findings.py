"""Issue 26, the wizard driven as an operator would: each finding's behaviour, by keys."""

from __future__ import annotations

import dataclasses

from textual.widgets import Button, TextArea, Tree

from screens.app import make_app
from screens.preview import PreviewScreen
from screens.start import StartScreen
from screens.strategy import StrategyScreen
from screens.summary import SummaryScreen
from screens.widgets.confirm import ChoiceModal
from screens.widgets.file_view import FileView
from screens.widgets.form import FormRow
from screens.widgets.strategy_card import StrategyCard
from tests.support.examples import section
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, never_ran, screen_text, wait_for, widget_text
from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir
from wizard.profile import Clients
from wizard.profile_io import find_profile, load_profile


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


async def test_preview_says_a_static_pod_is_restarted_through_its_manifest() -> None:
    profile = dataclasses.replace(example("local-nginx"), clients=Clients(repoint=True))
    app = make_app(profile=profile, engine=FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one("#plan-tree", Tree)
        tree.move_cursor_to_line(tree.last_line - 6)  # controller-manager.conf (4 object lines)
        await pilot.pause()
        shown = " ".join(app.screen.query_one(FileView).shown_text.split())
        assert "/etc/kubernetes/controller-manager.conf" in shown
        assert "No unit" not in shown
        assert "static pod kube-controller-manager" in shown
        assert "its manifest is moved out of /etc/kubernetes/manifests and back" in shown
        assert "kubelet stops the pod and starts it again" in shown
        assert "names the master's own apiserver it stays local" in shown
        tree.move_cursor_to_line(tree.last_line - 4)  # admin.conf: no unit, no pod
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


# The example profiles' documentation addresses are refused before any connection ----------------

REFUSED = "refusing to connect: profile 'example-local-nginx' uses example addresses"


def _refusal(app) -> str:
    assert isinstance(app.screen, ChoiceModal), type(app.screen).__name__
    text = app.screen.text()
    assert app.screen.title_text == "Refusing to connect"
    return text


async def test_deploy_and_dry_run_refuse_the_example_addresses_before_connecting() -> None:
    engine = FakeEngine(connects=True)  # plays the real engine: it must never be called
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("d")  # Dry run asks nothing: it is refused at once
        text = _refusal(app)
        assert f"dry run: {REFUSED}" in text
        assert "Masters #1 (master1) address: 192.0.2.11 is an example address" in text
        assert "documentation range 192.0.2.0/24" in text and "masters[0]" not in text
        await pilot.press("enter")
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("ctrl+n")  # Deploy: refused before the question
        assert f"deploy: {REFUSED}" in _refusal(app)
        await pilot.press("escape", "y")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PreviewScreen)
        assert engine.calls == []


async def test_verify_on_the_summary_refuses_the_example_addresses() -> None:
    engine = FakeEngine()
    seen = []

    def verifier(profile, options, secrets=None):  # plays the real verifier
        seen.append(profile)
        return engine.verify(profile, options, secrets)

    app = make_app(profile=example("local-nginx"), engine=engine, verifier=verifier)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+n", "y")
        await wait_for(pilot, lambda: getattr(app.screen, "finished", False))
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ChoiceModal)  # the summary's verify, refused
        assert f"verify: {REFUSED}" in _refusal(app)
        await pilot.press("escape")
        assert isinstance(app.screen, SummaryScreen)
        assert "refused" in str(app.screen.query_one("#verify-head").render())
        await pilot.press("v")
        assert isinstance(app.screen, ChoiceModal)
    assert seen == []


async def test_a_profile_of_other_addresses_deploys_as_before() -> None:
    engine = FakeEngine(connects=True)
    profile = example("local-nginx")
    moved = dataclasses.replace(
        profile,
        masters=tuple(
            dataclasses.replace(m, address=f"10.99.0.{i}") for i, m in enumerate(profile.masters, 1)
        ),
        workers=tuple(
            dataclasses.replace(w, address=f"10.99.1.{i}") for i, w in enumerate(profile.workers, 1)
        ),
    )
    app = make_app(profile=moved, engine=engine)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: bool(engine.calls))
        assert engine.calls[-1].dry_run


# Saving: a renamed profile is a new file, only the chosen strategy's section, comments kept ------


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#") or " # " in line]


async def test_a_renamed_profile_is_saved_to_its_new_file_and_the_old_one_is_left() -> None:
    folder = user_profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "mine.toml"
    old.write_text(
        (EXAMPLE_PROFILES_DIR / "local-nginx.toml")
        .read_text()
        .replace('"example-local-nginx"', '"mine"')
    )
    before = old.read_text()
    app = make_app(old, engine=FakeEngine(), initial_step="strategy")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("shift+tab", "ctrl+u", *"theirs")
        assert app.state.profile.name == "theirs"
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceModal)
    assert old.read_text() == before
    new = folder / "theirs.toml"
    assert new.read_text() == before.replace('"mine"', '"theirs"')  # its comments too
    assert find_profile("theirs") == new and load_profile("theirs").name == "theirs"


async def test_a_strategy_switch_saves_only_the_chosen_strategys_section() -> None:
    path = EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml"
    app = make_app(path, engine=FakeEngine(), initial_step="strategy")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("1")  # local nginx
        assert app.state.profile.strategy == "local-nginx"
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "s")
        await pilot.pause()
        assert not app.state.dirty
    saved = (user_profiles_dir() / "example-haproxy-keepalived.toml").read_text()
    assert "[haproxy_keepalived]" not in saved and "vip" not in saved
    assert "[local_nginx]" in saved and 'strategy = "local-nginx"' in saved
    assert load_profile(user_profiles_dir() / "example-haproxy-keepalived.toml").strategy == (
        "local-nginx"
    )
    assert saved.startswith("# kubeha example profile: haproxy + keepalived")  # comments kept


async def test_saving_a_shipped_example_keeps_its_comments() -> None:
    path = EXAMPLE_PROFILES_DIR / "local-nginx.toml"
    text = path.read_text()
    app = make_app(path, engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(100, 32)) as pilot:
        field = app.screen.query_one("#f-local-nginx-listen-port")
        field.focus()
        await pilot.press("ctrl+u", *"9443")
        assert section(app.state.profile, "local_nginx").listen_port == 9443
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "s")
        await pilot.pause()
    saved = (user_profiles_dir() / "example-local-nginx.toml").read_text()
    assert path.read_text() == text  # the example itself is never written
    assert _comments(saved) == [
        line.replace("listen_port = 8443", "listen_port = 9443") for line in _comments(text)
    ]
    assert saved == text.replace("listen_port = 8443", "listen_port = 9443")


# The focused strategy card is seen without colours --------------------------------------------


async def test_the_focused_card_is_marked_by_text_and_border_not_only_colour() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="strategy")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("right")  # haproxy-keepalived focused, local-nginx still chosen
        screen = app.screen
        focused = screen.query_one("#card-haproxy-keepalived", StrategyCard)
        chosen = screen.query_one("#card-local-nginx", StrategyCard)
        assert app.focused is focused
        assert str(focused.border_title).startswith("►")
        assert not str(chosen.border_title).startswith("►")
        lines = screen_text(app).splitlines()
        assert any("► 2" in line for line in lines)
        edges = {card.styles.border.top[0] for card in (focused, chosen)}
        assert len(edges) == 2  # the focused card's border differs from the chosen one's
        others = screen.query_one("#card-ipvs", StrategyCard)
        assert focused.styles.border.top[0] != others.styles.border.top[0]
        await pilot.press("right")
        assert not str(focused.border_title).startswith("►")
        assert str(others.border_title).startswith("►")


# A problem marks its field and its step, and counts from 1 ---------------------------------------


async def test_a_bad_field_and_its_step_are_marked_and_nodes_count_from_one() -> None:
    profile = example("haproxy-keepalived")
    taken = profile.masters[1].address
    app = make_app(profile=profile, initial_step="balancer")
    async with app.run_test(size=(100, 32)) as pilot:
        row = app.screen.query_one("#f-haproxy-keepalived-vip").parent
        assert not row.has_class("-problem-error")
        row.query_one("Input").focus()
        await pilot.press("ctrl+u", *taken)
        assert section(app.state.profile, "haproxy_keepalived").vip == taken
        shown = " ".join(screen_text(app).split())  # the message wraps
        assert f"'{taken}': expected a free address: it is Masters #2 (master2) address" in shown
        assert "masters[1]" not in shown
        assert row.has_class("-problem-error")
        assert str(row.query_one("Label").render()).startswith("! ")
        assert "Balancer!" in widget_text(app, "#step-bar")
        others = [r for r in app.screen.query(FormRow) if r is not row]
        assert not any(r.has_class("-problem-error") for r in others)
        await pilot.press("ctrl+u", *"192.0.2.100")
        assert not row.has_class("-problem-error")
        assert not str(row.query_one("Label").render()).startswith("!")
        assert "!" not in widget_text(app, "#step-bar")


async def test_a_bad_node_line_marks_its_box_and_the_nodes_step_everywhere() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="nodes")
    async with app.run_test(size=(100, 32)) as pilot:
        masters = app.screen.query_one("#text-masters", TextArea)
        workers = app.screen.query_one("#text-workers", TextArea)
        masters.text = masters.text.replace("192.0.2.12", "192.0.2.999")
        await pilot.pause()
        assert "Masters line 2 address" in screen_text(app)
        assert str(masters.border_title) == "! Masters" and masters.has_class("-problem-error")
        assert str(workers.border_title) == "Workers" and not workers.has_class("-problem-error")
        assert "Nodes!" in widget_text(app, "#step-bar")
        await pilot.press("escape")  # Strategy: the step bar still says where the problem is
        assert isinstance(app.screen, StrategyScreen)
        assert "Nodes!" in widget_text(app, "#step-bar")


async def test_switching_strategy_back_and_forth_keeps_what_was_typed_and_what_the_file_set_aside(
    tmp_path,
) -> None:
    """A table the file gave for another strategy is set aside (said on the Load balancer step),
    used when that strategy is chosen, set aside again when it is left, and saved as written;
    what was typed for a strategy comes back when it is chosen again."""
    path = tmp_path / "mine.toml"
    example_text = (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text()
    path.write_text(example_text + '\n# my ipvs settings\n[ipvs]\nvip = "192.0.2.97"\n')
    app = make_app(path, engine=FakeEngine(), initial_step="balancer")
    async with app.run_test(size=(100, 32)) as pilot:
        said = [p for p in app.state.problems("balancer") if p.field == "ipvs"]
        assert said and not said[0].is_error and "set aside" in said[0].expected
        field = app.screen.query_one("#f-local-nginx-listen-port")
        field.focus()
        await pilot.press("ctrl+u", *"9444")
        app.goto("strategy")
        await pilot.pause()
        await pilot.press("3")  # ipvs: the file's [ipvs] is used
        assert app.state.profile.strategy == "ipvs"
        assert section(app.state.profile, "ipvs").vip == "192.0.2.97"
        assert not app.state.profile.set_aside
        await pilot.press("1")  # local nginx again: what was typed is back
        assert section(app.state.profile, "local_nginx").listen_port == 9444
        assert dict(app.state.profile.set_aside) == {"ipvs": {"vip": "192.0.2.97"}}
        app.goto("summary")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert not app.state.dirty
    saved = path.read_text()
    assert saved == example_text.replace("listen_port = 8443", "listen_port = 9444") + (
        '\n# my ipvs settings\n[ipvs]\nvip = "192.0.2.97"\n'
    )
