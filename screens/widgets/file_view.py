"""Shows one generated file with syntax highlighting, or its diff against the node."""

from __future__ import annotations

from pathlib import PurePosixPath

from rich.syntax import Syntax
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

    def compose(self):
        yield Static("", id="file-text")

    def show(self, text: str, lexer: str) -> None:
        syntax = Syntax(
            text,
            lexer,
            theme="ansi_dark",
            line_numbers=True,
            word_wrap=False,
            background_color="default",
        )
        self.query_one("#file-text", Static).update(syntax)
        self.scroll_home(animate=False)

    def show_message(self, text: str) -> None:
        self.query_one("#file-text", Static).update(text)
