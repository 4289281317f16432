"""Shows one generated file with syntax highlighting, or its diff against the node.

Long lines scroll sideways (arrows, Home/End); ``w`` wraps them instead and ``m`` (or F11)
maximizes the view to the whole screen, Escape gives it back.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.widgets import Static

_BY_SUFFIX = {
    ".service": "systemd",
    ".timer": "systemd",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".cfg": "ini",
    ".sh": "bash",
    ".diff": "diff",
    ".toml": "toml",
}


def lexer_for(path: str) -> str:
    p = PurePosixPath(path)
    if p.suffix == ".conf" and ("nginx" in path or "keepalived" in path):
        return "nginx"  # keepalived's braces read well with the nginx lexer too
    return _BY_SUFFIX.get(p.suffix, "text")


class FileView(ScrollableContainer, can_focus=True):
    """A scrollable, focusable view of a file's text; ANSI syntax colours for 16-colour terms."""

    ALLOW_MAXIMIZE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("m,f11", "toggle_maximize", "Maximize"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wrap = False
        self._shown: tuple[str, str] | None = None  # text and lexer, to redraw on a wrap toggle

    def compose(self) -> ComposeResult:
        yield Static("", id="file-text", markup=False)

    def show(self, text: str, lexer: str) -> None:
        self._shown = (text, lexer)
        self._draw()
        self.scroll_home(animate=False)

    @property
    def shown_text(self) -> str:
        """The text on view (empty while a message is shown)."""
        return self._shown[0] if self._shown is not None else ""

    def _draw(self) -> None:
        if self._shown is None:
            return
        text, lexer = self._shown
        syntax = Syntax(
            text,
            lexer,
            theme="ansi_dark",
            line_numbers=True,
            word_wrap=self.wrap,
            background_color="default",
        )
        static = self.query_one("#file-text", Static)
        static.set_class(self.wrap, "-wrap")
        static.update(syntax)

    def show_message(self, text: str) -> None:
        self._shown = None
        static = self.query_one("#file-text", Static)
        static.set_class(True, "-wrap")
        static.update(Text(text))

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._draw()
        self.border_subtitle = "wrapped (w)" if self.wrap else ""

    def action_toggle_maximize(self) -> None:
        if self.screen.maximized is self:
            self.screen.minimize()
        else:
            self.screen.maximize(self)
