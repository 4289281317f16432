"""One node's live pane on the deploy screen: name, status, phase, progress, last lines.

Mounted once per node; :meth:`NodePane.show` updates the same widgets in place, so a run with
50 nodes never re-mounts anything.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from screens.node_view import NodeView


class NodePane(Vertical):
    def __init__(self, view: NodeView) -> None:
        super().__init__(id=f"pane-{view.node}")
        self.view = view

    def compose(self) -> ComposeResult:
        with Horizontal(classes="pane-head"):
            yield Static("", classes="pane-title", markup=False)
            yield ProgressBar(total=1.0, show_eta=False, show_percentage=True)
        yield Static("", classes="pane-lines", markup=False)

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        view = self.view
        phase = f" · {view.phase}" if view.phase and not view.finished else ""
        mark = "✗ " if view.failed else ("✓ " if view.finished else "")
        title = f"{view.node:<12} {view.role:<7} {view.address:<15} {mark}{view.status}{phase}"
        self.query_one(".pane-title", Static).update(title)
        self.query_one(ProgressBar).update(progress=view.progress)
        self.query_one(".pane-lines", Static).update("\n".join(view.lines))
        self.set_class(view.running, "-running")
        self.set_class(view.failed, "-failed")
        self.set_class(view.finished and not view.failed, "-ok")
