"""The deploy screen's node panes, virtualised: only the panes in view are mounted.

The list knows every pane's height from its model (``pane_rows``), so it knows where each pane
lies without laying any out. Two spacers stand for the panes above and below the window; the
panes in view, and one either side, are mounted between them. Scrolling or resizing moves the
window: panes that leave are removed, panes that come into view are mounted. A deploy of 200
nodes thus lays out a dozen panes, and an event for a node out of view only changes its model.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget

from screens.node_view import NodeView
from screens.widgets.node_pane import NodePane, pane_rows

GAP = 1  # NodePane's margin-bottom
MARGIN = 1  # panes mounted beyond each edge of the view


class PaneSpacer(Widget):
    """Blank height standing for the panes that are not mounted."""

    DEFAULT_CSS = "PaneSpacer { height: 0; }"


class PaneList(VerticalScroll):
    """Every pane's model; the panes in view mounted. Its component classes colour the panes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pane-list--lines",
        "pane-list--lines-failed",
        "pane-list--bar",
        "pane-list--bar-done",
        "pane-list--bar-failed",
    }
    DEFAULT_CSS = """
    PaneList > .pane-list--lines { color: $text-muted; }
    PaneList > .pane-list--lines-failed { color: $text-error; }
    PaneList > .pane-list--bar { color: $primary; background: $surface; }
    PaneList > .pane-list--bar-done { color: $success; background: $surface; }
    PaneList > .pane-list--bar-failed { color: $error; background: $surface; }
    """

    def __init__(self, views: Sequence[NodeView], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.views = list(views)
        self._index = {view.node: i for i, view in enumerate(self.views)}
        self._rows: list[int] = []
        self.panes: dict[str, NodePane] = {}  # the mounted ones, by node
        self._tops: list[int] = []
        self._total = 0
        self._window = (0, 0)
        self.measure()

    def compose(self) -> ComposeResult:
        yield PaneSpacer(id="panes-above")
        yield PaneSpacer(id="panes-below")

    def on_mount(self) -> None:
        self.update_window()

    def on_resize(self) -> None:
        self.update_window()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.update_window()

    def measure(self) -> None:
        """Every pane's height and top row, from the models."""
        self._rows = [pane_rows(view) for view in self.views]
        tops, y = [], 0
        for rows in self._rows:
            tops.append(y)
            y += rows + GAP
        self._tops, self._total = tops, y

    def show(self, nodes: Iterable[str]) -> None:
        """Repaint the panes of ``nodes`` that are mounted; the others are drawn when in view."""
        resized = False
        for node in nodes:
            pane = self.panes.get(node)
            if pane is not None:
                pane.show()
            index = self._index.get(node)
            if index is not None and pane_rows(self.views[index]) != self._rows[index]:
                resized = True  # a build pane grew or shrank
        if resized:
            self.measure()
            self.update_window(force=True)

    def update_window(self, force: bool = False) -> None:
        """Mount the panes from the one above the view to the one below it, remove the rest,
        and size the spacers for what is not mounted."""
        if not self.is_mounted or not self.views:
            return
        height = self.scrollable_content_region.height or self.app.size.height
        top = round(self.scroll_y)
        first = max(bisect_right(self._tops, top) - 1 - MARGIN, 0)
        last = min(bisect_left(self._tops, top + height) + MARGIN, len(self.views))
        if (first, last) == self._window and not force and self.panes:
            return
        self._window = (first, last)
        wanted = self.views[first:last]
        names = {view.node for view in wanted}
        for name in [n for n in self.panes if n not in names]:
            pane = self.panes.pop(name)
            pane.display = False  # out of the layout now; removed from the DOM soon after
            pane.remove()
        above = self.query_one("#panes-above", PaneSpacer)
        below = self.query_one("#panes-below", PaneSpacer)
        above.styles.height = self._tops[first] if wanted else 0
        below.styles.height = self._total - (
            self._tops[last] if last < len(self._tops) else self._total
        )
        kept = [view for view in wanted if view.node in self.panes]
        if not kept:
            new = [NodePane(view) for view in wanted]
            self.panes.update((p.view.node, p) for p in new)
            if new:
                self.mount_all(new, before=below)
            return
        first_kept = wanted.index(kept[0])
        head = [NodePane(view) for view in wanted[:first_kept]]
        tail = [NodePane(view) for view in wanted[first_kept + len(kept) :]]
        self.panes.update((p.view.node, p) for p in head + tail)
        if head:
            self.mount_all(head, after=above)
        if tail:
            self.mount_all(tail, before=below)
