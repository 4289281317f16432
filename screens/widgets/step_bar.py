"""One line naming every step of the wizard, the current one highlighted."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from screens.state import STEP_TITLES, STEPS


class StepBar(Static):
    """``Start › Strategy › Nodes › …`` with the current step in the accent colour."""

    def __init__(self, current: str) -> None:
        super().__init__(id="step-bar")
        self.current = current

    def on_mount(self) -> None:
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
        self.update(Content(" › ").join(parts))
