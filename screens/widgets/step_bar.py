"""One line naming every step of the wizard, the current one highlighted, a step that holds a
problem marked ``!`` (``Nodes!``) in the problem's colour."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from screens import steps
from screens.widgets.marks import MARK

# Between the steps' titles: spaced when the line fits, else tight (80 columns hold nine steps).
SEPARATORS = (" › ", "› ", "›")


class StepBar(Static):
    """``Start › Strategy › Nodes! › …`` with the current step reversed."""

    def __init__(self, current: str) -> None:
        super().__init__(id="step-bar")
        self.current = current
        self.levels: dict[str, str] = {}  # step -> "error" / "warning": marked "!"

    def mark(self, levels: dict[str, str]) -> None:
        """Mark the steps that hold a problem (``!`` after the title, in its colour)."""
        if levels != self.levels:
            self.levels = dict(levels)
            self.show_steps()

    def on_mount(self) -> None:
        self.show_steps()

    def on_resize(self) -> None:
        self.show_steps()

    def show_steps(self) -> None:
        width = self.content_size.width or self.app.size.width - 2
        for separator in SEPARATORS:
            line = self.steps_line(separator)
            if line.cell_length <= width:
                break
        self.update(line)

    def steps_line(self, separator: str) -> Content:
        parts: list[Content] = []
        reached = True
        for step in steps.names():
            level = self.levels.get(step)
            title = steps.title(step) + (MARK if level else "")
            if step == self.current:
                part = Content.styled(f" {title} ", "reverse bold")
                reached = False
            elif level:
                part = Content.styled(title, f"bold $text-{level}")
            elif reached:
                part = Content.styled(title, "$text")
            else:
                part = Content.styled(title, "$text-muted")
            parts.append(part)
        return Content(separator).join(parts)
