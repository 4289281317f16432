"""One line naming every step of the wizard, the current one highlighted."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from screens.state import STEP_TITLES, STEPS

# Between the steps' titles: spaced when the line fits, else tight (80 columns hold nine steps).
SEPARATORS = (" › ", "› ", "›")


class StepBar(Static):
    """``Start › Strategy › Nodes › …`` with the current step in the accent colour."""

    def __init__(self, current: str) -> None:
        super().__init__(id="step-bar")
        self.current = current

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
        for step in STEPS:
            title = STEP_TITLES[step]
            if step == self.current:
                parts.append(Content.styled(f" {title} ", "reverse bold"))
                reached = False
            elif reached:
                parts.append(Content.styled(title, "$text"))
            else:
                parts.append(Content.styled(title, "$text-muted"))
        return Content(separator).join(parts)
