"""The validation messages of one step, exactly as ``kubeha validate`` prints them."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from wizard.problems import Problem


class ProblemList(Static):
    """Errors in the error colour, warnings in the warning colour; empty when all is well."""

    def __init__(self) -> None:
        super().__init__(id="problems")

    def show(self, problems: Sequence[Problem]) -> None:
        lines = [
            Content.styled(str(p), "$text-error" if p.is_error else "$text-warning")
            for p in problems
        ]
        self.update(Content("\n").join(lines))
        self.set_class(not problems, "-empty")
        self.set_class(any(p.is_error for p in problems), "-errors")
