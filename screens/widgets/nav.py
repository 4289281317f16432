"""The Back / Next buttons at the bottom of every step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static


class NavBar(Horizontal):
    """Back on the left, a status text in the middle, Next on the right."""

    def __init__(self, next_label: str = "Next ›", back: bool = True) -> None:
        super().__init__(id="nav")
        self.next_label = next_label
        self.back = back

    def compose(self) -> ComposeResult:
        yield Button("‹ Back", id="back", compact=True, disabled=not self.back)
        yield Static("", id="nav-status")
        yield Button(self.next_label, id="next", variant="primary", compact=True)
