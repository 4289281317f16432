"""The validation messages of one step, in the words ``kubeha validate`` uses.

The list scrolls (and takes the focus) when its messages do not fit, so none is ever cut off. A
step may name a field its own way (the Nodes step says ``Masters line 4`` where the profile says
``masters[3]``); an empty value reads ``(empty)``, never ``None``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from wizard.problems import Problem


class _Empty:
    def __repr__(self) -> str:
        return "(empty)"


EMPTY = _Empty()


def problem_text(problem: Problem, field: str | None = None) -> str:
    """``str(problem)`` with ``field`` shown instead of its own, and no ``None`` or ``''``."""
    value = EMPTY if problem.value is None or problem.value == "" else problem.value
    return str(dataclasses.replace(problem, field=field or problem.field, value=value))


class ProblemList(VerticalScroll, can_focus=True):
    """Errors in the error colour, warnings in the warning colour; hidden when all is well."""

    def __init__(self) -> None:
        super().__init__(id="problem-list")
        self.can_focus = False  # a tab stop only while something is hidden below

    def compose(self) -> ComposeResult:
        yield Static("", id="problems")

    def show(
        self, problems: Sequence[Problem], field_name: Callable[[str], str] | None = None
    ) -> None:
        lines = [
            Content.styled(
                problem_text(p, field_name(p.field) if field_name else None),
                "$text-error" if p.is_error else "$text-warning",
            )
            for p in problems
        ]
        self.query_one("#problems", Static).update(Content("\n").join(lines))
        self.set_class(not problems, "-empty")
        self.set_class(any(p.is_error for p in problems), "-errors")
        self.call_after_refresh(self._update_focusable)

    def _update_focusable(self) -> None:
        self.can_focus = self.max_scroll_y > 0
