"""The frame every wizard step shares: step bar, body, problems, Back/Next, Footer.

A step's row (``screens.steps``) names the profile fields it owns; after every edit it
re-runs ``wizard.validation.validate`` and shows that step's problems, and Next stays disabled
while any of them is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Button, Header, Static

from screens import steps
from screens.shown_fields import shown_problem
from screens.state import WizardState, with_field
from screens.textual_compat import KeepsStyles, StepFooter
from screens.widgets.form import FormRow
from screens.widgets.marks import level_for, level_of, mark
from screens.widgets.nav import NavBar
from screens.widgets.problem_list import ProblemList
from screens.widgets.step_bar import StepBar
from wizard.problems import Problem

if TYPE_CHECKING:
    from screens.app import KubehaApp


class WizardScreen(KeepsStyles):
    """One step: the screen its row in ``screens.steps`` names. Subclasses compose their body
    and may override ``go_next``."""

    next_label = "Next ›"
    show_problems = False
    can_go_back = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next", priority=True),
        # early in the footer, so it stays visible at 80 columns: the help lists every other key
        # (F1 is the one shown: a text field takes "?" as a character)
        Binding("f1", "app.help", "Help"),
        Binding("question_mark", "app.help", "Help", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(name=self.step, classes=f"step-{self.step}")
        self.local_problems: dict[str, Problem] = {}  # text that could not even be typed

    @property
    def step(self) -> str:
        """The step whose row names this screen's class (``screens.steps``)."""
        return steps.step_of(type(self))

    @property
    def kubeha(self) -> KubehaApp:
        return cast("KubehaApp", self.app)  # Textual types a screen's app as App[object]

    @property
    def state(self) -> WizardState:
        return self.kubeha.state

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        yield StepBar(self.step)
        yield from self.compose_body()
        if self.show_problems:
            yield ProblemList()
        yield NavBar(self.next_label, back=self.can_go_back)
        yield StepFooter()

    def compose_body(self) -> ComposeResult:
        yield Static("")

    def on_mount(self) -> None:
        self.show_profile_in_header()
        self.revalidate()

    def show_profile_in_header(self) -> None:
        """After the Strategy step the header names the profile and its strategy."""
        if steps.get(self.step).header_names_profile:
            profile = self.state.profile
            self.sub_title = f"{profile.name} · {profile.strategy}"

    # Validation -------------------------------------------------------------------------------

    def current_problems(self) -> list[Problem]:
        if not self.show_problems:
            return []
        local = list(self.local_problems.values())
        shadowed = {p.field for p in local}
        return local + [p for p in self.state.problems(self.step) if p.field not in shadowed]

    def blocked(self) -> bool:
        """True while Next must stay disabled."""
        return any(p.is_error for p in self.current_problems())

    def apply_edit(self, path: str, value: Any, problem: Problem | None) -> None:
        """A form field edited: its text's own problem kept (the profile cannot hold it), or
        the value written into the profile; then everything checked again."""
        if problem is not None:
            self.local_problems[path] = problem
        else:
            self.local_problems.pop(path, None)
            self.state.profile = with_field(self.state.profile, path, value)
        self.revalidate()

    def revalidate(self) -> None:
        problems = self.current_problems()
        if self.show_problems:
            self.query_one(ProblemList).show([self.shown(p) for p in problems])
        blocked = self.blocked()
        next_button = self.query_one("#next", Button)
        if next_button.disabled != blocked:
            next_button.disabled = blocked
            self.refresh_bindings()  # the Footer greys Next out; only when that changes
        errors = sum(p.is_error for p in problems)
        self.set_status(f"{errors} error(s) to fix" if errors else "")
        self.mark_problems(problems)

    def mark_problems(self, problems: list[Problem]) -> None:
        """Mark each field a problem names, and in the step bar each step that holds one."""
        if not steps.get(self.step).profile_open:
            return  # no profile is open yet
        levels = self.state.step_levels()
        local = level_of(self.local_problems.values())
        if local == "error" or (local and self.step not in levels):
            levels[self.step] = local
        self.query_one(StepBar).mark(levels)
        for prefixes, widget, text in self.marked_fields():
            mark(widget, level_for(prefixes, problems), text)

    def marked_fields(self) -> Iterator[tuple[tuple[str, ...], Widget, str | None]]:
        """(field prefixes, widget, its unmarked label) for each place a problem can name:
        every form row; steps with other fields add theirs."""
        for row in self.query(FormRow):
            yield (row.spec.path,), row, row.spec.label

    def field_name(self, field: str) -> str:
        """How this step names a profile field in its messages (the Nodes step: by line)."""
        return field

    def shown(self, problem: Problem) -> Problem:
        """The problem as this step shows it: its field named the step's way, then every index
        counted from 1 (``screens.shown_fields``)."""
        named = dataclasses.replace(problem, field=self.field_name(problem.field))
        return shown_problem(named, self.state.profile)

    def set_status(self, text: str) -> None:
        self.query_one("#nav-status", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next" and self.blocked():
            return None  # shown greyed out in the Footer
        return not (action == "back" and not self.can_go_back)

    # Navigation -------------------------------------------------------------------------------

    def previous_step(self) -> str:
        order = steps.names()
        return order[max(order.index(self.step) - 1, 0)]

    def next_step(self) -> str:
        order = steps.names()
        return order[min(order.index(self.step) + 1, len(order) - 1)]

    def action_back(self) -> None:
        if self.can_go_back:
            self.kubeha.goto(self.previous_step())

    def action_next(self) -> None:
        if self.blocked():
            self.app.bell()
            return
        self.go_next()

    def go_next(self) -> None:
        self.kubeha.goto(self.next_step())

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()
