"""Step 1, Start: a new profile, or a saved one (examples and the operator's own) to resume.

Each saved profile shows its name, strategy, node count and last run; an install that was
interrupted is named above the list and ``r`` resumes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.base import WizardScreen
from screens.catalog import SavedProfile, describe_last_run
from screens.shown_fields import shown_text
from screens.state import WizardState, first_step_with_errors
from screens.widgets.confirm import unsaved_question

NEW_ROW = "new"


class StartScreen(WizardScreen):
    next_label = "Open ›"
    can_go_back = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_profile", "New profile"),
        Binding("r", "resume", "Resume install", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[SavedProfile] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static(
                "Make a Kubernetes control plane highly available. "
                "Start a new profile or open a saved one.",
                id="start-intro",
            )
            yield Static("", id="interrupted", markup=False)
            yield DataTable(id="profiles", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.saved = self.kubeha.list_profiles()
        table = self.query_one("#profiles", DataTable)
        table.add_columns("Profile", "Strategy", "Nodes", "Last run", "From")
        table.add_row("+ New profile", "", "", "", "", key=NEW_ROW)
        for index, item in enumerate(self.saved):
            if item.profile is None:
                row = (item.name, "invalid", "", shown_text(item.error)[:40], item.origin)
            else:
                p = item.profile
                row = (
                    p.name,
                    p.strategy,
                    str(len(p.all_nodes())),
                    describe_last_run(item.last_run),
                    item.origin,
                )
            table.add_row(*(Text(cell) for cell in row), key=str(index))  # never markup
        interrupted = [s for s in self.saved if s.interrupted and s.profile is not None]
        banner = self.query_one("#interrupted", Static)
        if interrupted:
            first = interrupted[0]
            banner.update(
                f"The install of {first.name!r} was interrupted. Press r to resume it "
                "(each node ends on its new verified config or its old one)."
            )
        banner.display = bool(interrupted)
        table.focus()
        super().on_mount()

    def selected(self) -> SavedProfile | None:
        table = self.query_one("#profiles", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key == NEW_ROW or key is None:
            return None
        return self.saved[int(key)]

    @on(DataTable.RowSelected, "#profiles")
    def _row_selected(self) -> None:
        self.go_next()

    def go_next(self) -> None:
        item = self.selected()
        if item is None:
            self.action_new_profile()
        else:
            self.open_profile(item)

    def open_profile(self, item: SavedProfile, resume: bool = False) -> None:
        if item.profile is None:
            self.notify(
                shown_text(item.error),
                title=f"{item.path.name} cannot be opened",
                severity="error",
                markup=False,
            )
            return
        profile = item.profile

        def go() -> None:
            self.kubeha.state = WizardState(
                profile=profile,
                source=item.path,
                saved_to=item.path if item.origin == "yours" else None,
                resume=resume,
            )
            self.kubeha.goto(first_step_with_errors(profile) or "preview")

        self.unless_unsaved(go, "open it", "Open another profile")

    def action_new_profile(self) -> None:
        def go() -> None:
            self.kubeha.state = WizardState()
            self.kubeha.goto("strategy")

        self.unless_unsaved(go, "start anew", "Start a new profile")

    def unless_unsaved(self, go: Callable[[], None], verb: str, doing: str) -> None:
        """``go()`` (which replaces the profile being edited) at once when it has no unsaved
        edits; else after the operator chose to save or discard them (Cancel is the default)."""
        state = self.kubeha.state
        if not state.dirty:
            go()
            return

        def answered(answer: str | None) -> None:
            if answer == "discard":
                go()
            elif answer == "save":
                self.kubeha.save(then=lambda path: go())

        self.app.push_screen(unsaved_question(state.profile.name, verb, doing), answered)

    def action_resume(self) -> None:
        interrupted = [s for s in self.saved if s.interrupted and s.profile is not None]
        if not interrupted:
            self.notify("No interrupted install to resume.")
            return
        self.open_profile(interrupted[0], resume=True)
