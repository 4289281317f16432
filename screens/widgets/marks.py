"""Marking where a problem is: the field a problem names, and the step that holds it.

A marked field gets ``!`` before its label (or its box's title) and the class ``-problem-error``
or ``-problem-warning`` (its colour): the mark is text, so it is seen with 8 colours or none.
The step bar marks the steps that hold a problem the same way (``screens.widgets.step_bar``).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Label

from screens.state import LEVELS, belongs_to, level_of
from wizard.problems import Problem

MARK = "!"
__all__ = ["LEVELS", "MARK", "level_for", "level_of", "mark", "marked", "names"]


def names(problem: Problem, prefixes: tuple[str, ...]) -> bool:
    """True when the problem's field is one of ``prefixes`` or lies beneath one (``masters``:
    ``masters[1].address``; ``Masters line``: a Nodes line's own ``Masters line 4``)."""
    return belongs_to(problem, prefixes) or problem.field.startswith(
        tuple(f"{p} " for p in prefixes)
    )


def level_for(prefixes: tuple[str, ...], problems: Iterable[Problem]) -> str | None:
    """The level of the problems that name one of ``prefixes``."""
    return level_of(p for p in problems if names(p, prefixes))


def marked(text: str, level: str | None) -> str:
    return f"{MARK} {text}" if level else text


def mark(widget: Widget, level: str | None, text: str | None = None) -> None:
    """Mark ``widget`` (a form row: its label; a box: its border title, ``text`` unmarked)."""
    for each in LEVELS:
        widget.set_class(level == each, f"-problem-{each}")
    if text is None:
        return
    label = widget.query(Label).first() if widget.query(Label) else None
    if label is not None:
        label.update(marked(text, level))
    else:
        widget.border_title = marked(text, level)
