"""A card describing one HA strategy; the Strategy screen shows three side by side."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static


@dataclass(frozen=True)
class StrategyInfo:
    key: str
    title: str
    needs: str
    failover: str
    pick: str


class StrategyCard(VerticalScroll, can_focus=True):
    """Focusable and clickable; Enter or a click selects the strategy."""

    class Chosen(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, info: StrategyInfo, selected: bool) -> None:
        super().__init__(id=f"card-{info.key}", classes="strategy-card")
        self.info = info
        self.border_title = info.title
        self.set_class(selected, "-selected")

    def compose(self) -> ComposeResult:
        yield Static("Needs", classes="card-heading")
        yield Static(self.info.needs, classes="card-text")
        yield Static("Fails over", classes="card-heading")
        yield Static(self.info.failover, classes="card-text")
        yield Static("Pick it when", classes="card-heading")
        yield Static(self.info.pick, classes="card-text")

    def on_click(self) -> None:
        self.post_message(self.Chosen(self.info.key))

    def on_focus(self) -> None:
        self.post_message(self.Chosen(self.info.key))
