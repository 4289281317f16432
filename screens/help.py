"""The help screen (``?`` or F1): every key of the screen it was opened on.

Built from the bindings themselves, never from a list kept by hand: the keys active where the
focus is (the focused widget, its containers, the screen, the app), then the keys of the
screen's other widgets (such as the file view's) with where they work. Hidden keys (1/2/3,
arrows, r) are listed too; keys that are off right now are marked so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from screens.textual_compat import action_state, binding_chain, own_bindings

# Keys every Textual screen has that say nothing to an operator.
_NOISE = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous"}
# A scrollable widget's keys, shown as one row per widget.
_SCROLL = {"scroll_up", "scroll_down", "scroll_left", "scroll_right", "scroll_home", "scroll_end"}
_SCROLL |= {"page_up", "page_down", "page_left", "page_right"}
SCROLL_KEYS = "arrows, pgup, pgdn, home, end"


@dataclass(frozen=True)
class KeyHelp:
    keys: str  # "m, f11"
    does: str
    where: str
    enabled: bool = True


def _where(node: DOMNode, screen: Screen) -> str:
    if isinstance(node, App):
        return "everywhere"
    if node is screen:
        return "this step"
    if type(node).__module__.startswith("screens.") or not node.id:
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(node).__name__).lower()
    else:
        name = node.id.removeprefix("f-").replace("-", " ")
    return f"in {name}"  # "in file view", "in plan tree"


def _describe(binding: Binding) -> str:
    return binding.description or binding.action.split("(")[0].replace("_", " ").capitalize()


def help_rows(screen: Screen) -> list[KeyHelp]:
    """Every key of ``screen``: those active at the focus first, then its widgets' own."""
    app = screen.app
    merged: dict[tuple[str, str, str], list[str]] = {}
    state: dict[tuple[str, str, str], tuple[DOMNode, bool]] = {}

    def add(node: DOMNode, binding: Binding, enabled: bool) -> None:
        if binding.action in _NOISE or binding.system:
            return
        where = _where(node, screen)
        key = (where, binding.action, _describe(binding))
        shown = app.get_key_display(binding)
        if binding.action in _SCROLL:
            key, shown = (where, "scroll", "Scroll"), SCROLL_KEYS
        keys = merged.setdefault(key, [])
        if shown not in keys:
            keys.append(shown)
        state.setdefault(key, (node, enabled))

    # The chain itself rather than ``active_bindings``, which keeps one binding per key: a card's
    # scroll keys would hide the step's own left/right, which still act when the card can't scroll.
    chain = binding_chain(screen)
    # a priority binding (ctrl+c: quit) wins over every other binding of its key
    taken = {key for _node, bindings in chain for key, b in bindings if b.priority}
    for node, bindings in chain:
        for key, binding in bindings:
            if key in taken and not binding.priority:
                continue
            enabled = action_state(app, binding.action, node)
            if enabled is not False:
                add(node, binding, bool(enabled))
    seen = {id(node) for node, _ in state.values()}
    for widget in screen.query("*"):
        if id(widget) in seen or not type(widget).__module__.startswith("screens."):
            continue
        if not widget.can_focus:
            continue  # its keys act only once it has the focus
        for _key, binding in own_bindings(widget):
            add(widget, binding, True)

    rank = {"this step": 0, "everywhere": 2}
    rows = [
        KeyHelp(", ".join(merged[key]), key[2], key[0], enabled)
        for key, (_node, enabled) in state.items()
    ]
    return sorted(rows, key=lambda r: rank.get(r.where, 1))  # stable: binding order kept


class HelpScreen(ModalScreen[None]):
    """A table of keys; Escape, ``?``, F1 or ``q`` closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    #help-box {
        width: 96;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: thick $accent;
        background: $surface;
    }
    #help-title {
        text-style: bold;
    }
    #help-keys {
        height: auto;
        max-height: 1fr;
    }
    #help-foot {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "close", "Close"),
    ]

    def __init__(self, title: str, rows: list[KeyHelp]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(self.title_text, id="help-title", markup=False)
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                "Escape, ?, F1 or q closes this list. On the steps q, ctrl+q and ctrl+c quit (q "
                "not while typing in a field), Escape goes back, ctrl+p opens the command palette.",
                id="help-foot",
                markup=False,
            )

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("Key", "Does", "Where")
        for row in self.rows:
            style = "" if row.enabled else "dim"
            does = row.does if row.enabled else f"{row.does} (not now)"
            table.add_row(Text(row.keys, style), Text(does, style), Text(row.where, style))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
