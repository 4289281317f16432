"""A card describing one HA strategy; the Strategy screen shows three side by side.

Focus only moves the highlight (a ► before the title and a double border, visible without
colours): a card is chosen with Enter, Space or a click (or its number on the Strategy
screen), and the chosen one says so in its bottom border.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

CHOSEN = "● chosen"
# The focused card's title starts with it and its border is double: seen in any terminal, with
# 8 colours (TERM=screen, linux, xterm) or none, where a background highlight is not. ► is in
# the Linux console's font (CP437).
FOCUS_MARK = "►"


@dataclass(frozen=True)
class StrategyInfo:
    key: str
    title: str
    needs: str
    failover: str
    pick: str


class StrategyCard(VerticalScroll, can_focus=True):
    """Focusable and clickable; Enter, Space or a click chooses the strategy."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Choose", show=False),
        Binding("space", "choose", "Choose", show=False),
    ]

    class Chosen(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, info: StrategyInfo, selected: bool) -> None:
        super().__init__(id=f"card-{info.key}", classes="strategy-card")
        self.info = info
        self.border_title = info.title
        self.show_chosen(selected)

    def compose(self) -> ComposeResult:
        yield Static("Needs", classes="card-heading")
        yield Static(self.info.needs, classes="card-text")
        yield Static("Fails over", classes="card-heading")
        yield Static(self.info.failover, classes="card-text")
        yield Static("Pick it when", classes="card-heading")
        yield Static(self.info.pick, classes="card-text")

    def on_focus(self) -> None:
        self.border_title = f"{FOCUS_MARK} {self.info.title}"

    def on_blur(self) -> None:
        self.border_title = self.info.title

    def show_chosen(self, chosen: bool) -> None:
        self.set_class(chosen, "-selected")
        number = self.info.title.split(" ", 1)[0]
        self.border_subtitle = CHOSEN if chosen else f"○ Enter or {number}: choose"

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self.info.key))

    def on_click(self) -> None:
        self.post_message(self.Chosen(self.info.key))
