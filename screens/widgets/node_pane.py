"""One node's live pane on the deploy screen: name, status, phase, progress, last lines.

A pane is one widget that draws its :class:`~screens.node_view.NodeView` (no child widgets):
:meth:`NodePane.show` repaints it in place. Its text comes from ``screens.node_text``; the bar
and the colours are drawn here. The panes live in a :class:`~screens.widgets.pane_list.PaneList`,
which mounts only those in view.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from screens.node_text import pane_lines, pane_title
from screens.node_view import NodeView

BAR_CELLS = 12
HEAD_RIGHT = BAR_CELLS + 6  # the bar, a space and "100%"
NODE_LINES = 2  # a node's last lines; the build's pane grows to show the compiler's tail


def pane_rows(view: NodeView) -> int:
    """The pane's height: the title line and the last lines (never fewer than a node's)."""
    if view.build:
        return 1 + max(1, len(view.lines))
    return 1 + NODE_LINES


class NodePane(Widget):
    """Draws one NodeView; classes -running, -ok and -failed colour its edge. The colours of
    its bar and lines are the component styles of the list it is in (``PaneList``): on the pane
    itself, Textual would recompute them for every pane mounted or restyled."""

    def __init__(self, view: NodeView) -> None:
        super().__init__(id=f"pane-{view.node}")
        self.view = view
        self._classes_for(view)
        self.styles.height = pane_rows(view)

    def show(self) -> None:
        """Repaint from the view (and resize, when a build pane's lines grew)."""
        view = self.view
        self._classes_for(view)
        rows = pane_rows(view)
        resized = self.styles.height is None or self.styles.height.value != rows
        if resized:
            self.styles.height = rows
        self.refresh(layout=resized)

    def _classes_for(self, view: NodeView) -> None:
        self.set_class(view.running, "-running")
        self.set_class(view.failed, "-failed")
        self.set_class(view.finished and not view.failed, "-ok")

    def render(self) -> Text:
        view = self.view
        width = self.content_region.width or self.size.width
        head = Text(pane_title(view), no_wrap=True, overflow="ellipsis", end="")
        head.truncate(max(width - HEAD_RIGHT, 1), pad=True)
        head.append_text(self._bar(view))
        lines_style = self._style("-lines-failed" if view.failed else "-lines")
        body = Text("\n").join(
            Text(line, style=lines_style, no_wrap=True, overflow="ellipsis", end="")
            for line in pane_lines(view)
        )
        text = Text("\n", end="").join([head, body]) if body.plain else head
        text.no_wrap, text.overflow = True, "ellipsis"  # one row per line, as the pane is sized
        return text

    def _style(self, part: str) -> Style:
        parent = self.parent
        if isinstance(parent, Widget) and f"pane-list-{part}" in parent.COMPONENT_CLASSES:
            return parent.get_component_rich_style(f"pane-list-{part}")
        return Style()

    def _bar(self, view: NodeView) -> Text:
        name = "-bar-failed" if view.failed else "-bar"
        if view.finished and not view.failed:
            name = "-bar-done"
        style = self._style(name)
        cells = BAR_CELLS * min(max(view.progress, 0.0), 1.0)
        full, half = int(cells), cells - int(cells) >= 0.5
        bar = Text(" ", end="")
        bar.append("━" * full + ("╸" if half else ""), Style(color=style.color))
        bar.append("━" * (BAR_CELLS - full - half), Style(color=style.bgcolor))
        # a failed node never shows a full bar's "100%": its step failed, whatever it reached
        bar.append(" fail" if view.failed else f"{round(view.progress * 100):>4}%")
        return bar
