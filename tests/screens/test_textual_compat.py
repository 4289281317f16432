"""Textual's internals are used in one module only, ``screens/textual_compat.py``, and what it
relies on is pinned here: a Textual upgrade that renames or reshapes one fails these tests by
name (the help's key list, the kept screens' styles, the footer), not as a changed screen."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer

from screens import textual_compat
from screens.textual_compat import (
    KeepsStyles,
    StepFooter,
    action_state,
    binding_chain,
    own_bindings,
)

SCREENS = Path(__file__).resolve().parents[2] / "screens"
COMPAT = SCREENS / "textual_compat.py"


def textual_private_names(cls: type) -> set[str]:
    """The ``_name``s (not dunders) that Textual's classes in ``cls``'s bases define: in their
    class body, or set on ``self`` in their source."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("textual."):
            continue
        names.update(n for n in vars(klass) if n.startswith("_") and not n.startswith("__"))
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names.update(re.findall(r"\bself\.(_[a-z]\w*)", source))
    return names


def screens_modules() -> list[Path]:
    return sorted(p for p in SCREENS.rglob("*.py") if p != COMPAT)


def test_no_screens_module_but_textual_compat_touches_a_private_name_of_textual() -> None:
    # every Textual class a screens class derives from, plus the objects every screen reaches
    # (self.app, self.screen, any widget queried)
    textual_bases: set[type] = {App, Screen, Widget, DOMNode, Footer}
    for path in screens_modules():
        module = importlib.import_module(
            ".".join(path.relative_to(SCREENS.parent).with_suffix("").parts)
        )
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                textual_bases.update(c for c in cls.__mro__ if c.__module__.startswith("textual"))
    private = set().union(*(textual_private_names(c) for c in textual_bases))
    used = []
    for path in screens_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
            if name in private:
                used.append(f"{path.relative_to(SCREENS.parent)}:{node.lineno} {name}")
    assert used == []


def test_the_scan_finds_what_textual_compat_uses() -> None:
    private = textual_private_names(App) | textual_private_names(Screen)
    private |= textual_private_names(Footer)
    used = {
        node.attr
        for node in ast.walk(ast.parse(COMPAT.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in private
    }
    expected = {"_modal_binding_chain", "_check_action_state", "_bindings", "_css_update_count"}
    assert expected | {"_bindings_ready"} <= used


# What each use relies on -----------------------------------------------------------------------


class Keyed(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("k", "kick", "Kick")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "kick" else True

    def action_kick(self) -> None:
        pass


class Other(Screen):
    def compose(self) -> ComposeResult:
        yield Button("other")


class Kept(KeepsStyles):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "sit", "Sit")]
    restyled = 0

    def compose(self) -> ComposeResult:
        yield Keyed()
        yield Button("two")
        yield StepFooter()

    def update_node_styles(self, animate: bool = True) -> None:
        self.restyled += 1
        super().update_node_styles(animate)


class Host(App):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+z", "zap", "Zap")]

    def on_mount(self) -> None:
        self.install_screen(Kept(), name="kept")
        self.install_screen(Other(), name="other")
        self.push_screen("kept")


async def test_binding_chain_runs_from_the_focus_to_the_app_with_every_binding() -> None:
    app = Host()
    async with app.run_test(size=(60, 12)) as pilot:
        screen = app.screen
        screen.query_one(Keyed).focus()
        await pilot.pause()
        chain = binding_chain(screen)
        assert isinstance(chain, list)
        nodes = [node for node, _ in chain]
        assert isinstance(nodes[0], Keyed) and nodes[-1] is app and screen in nodes
        assert all(isinstance(bindings, BindingsMap) for _, bindings in chain)
        keys = [key for _, bindings in chain for key, _binding in bindings]
        assert "k" in keys and "s" in keys and "ctrl+z" in keys


async def test_action_state_is_the_named_nodes_check_action() -> None:
    app = Host()
    async with app.run_test(size=(60, 12)):
        keyed = app.screen.query_one(Keyed)
        assert action_state(app, "kick", keyed) is None  # greyed out
        assert action_state(app, "app.zap", keyed) is True  # app.: the App's check_action


def test_own_bindings_are_a_widgets_key_binding_pairs() -> None:
    pairs = list(own_bindings(Keyed()))
    assert ("k", "kick") in [(key, binding.action) for key, binding in pairs]
    assert all(isinstance(binding, Binding) for _, binding in pairs)


async def test_a_kept_screen_is_restyled_on_resume_only_after_a_css_change() -> None:
    app = Host()
    async with app.run_test(size=(60, 12)) as pilot:
        kept = app.screen
        assert isinstance(kept, Kept)
        assert isinstance(app._css_update_count, int) and isinstance(kept._css_update_count, int)
        assert "_on_screen_resume" in vars(Screen)  # ours runs first (the subclass's handler)
        for _ in range(2):
            app.switch_screen("other")
            await pilot.pause()
            before = kept.restyled
            app.switch_screen("kept")
            await pilot.pause()
            assert kept.restyled == before  # comes back as it left
        app.switch_screen("other")
        await pilot.pause()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        before = kept.restyled
        app.switch_screen("kept")
        await pilot.pause()
        assert kept.restyled > before  # a theme change while away: restyled as usual


async def test_the_footer_is_told_of_binding_changes_and_rebuilds_only_when_they_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "_bindings_ready" in vars(Footer) and "bindings_changed" in vars(Footer)
    assert list(inspect.signature(Footer.bindings_changed).parameters) == ["self", "screen"]
    app = Host()
    async with app.run_test(size=(60, 12)) as pilot:
        footer = app.screen.query_one(StepFooter)
        app.screen.query_one(Button).focus()
        await pilot.pause()
        assert footer._bindings_ready and footer.children
        calls: list[tuple] = []
        recomposed: list[bool] = []
        monkeypatch.setattr(
            footer, "shows", lambda s: calls.append(()) or StepFooter.shows(footer, s)
        )
        monkeypatch.setattr(footer, "recompose", lambda: recomposed.append(True))
        app.screen.refresh_bindings()
        await pilot.pause()
        assert calls  # the screen's bindings_updated_signal reached our bindings_changed
        assert not recomposed  # the same keys: no rebuild
        app.screen.query_one(Keyed).focus()  # Keyed's "k" joins the footer
        await pilot.pause()
        assert recomposed


def test_textual_compat_is_the_module_that_says_so() -> None:
    assert "Textual's internals" in (textual_compat.__doc__ or "")
