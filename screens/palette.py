"""The wizard's own commands in the command palette (ctrl+p): Deploy, Dry run, Copy, Verify.

Each runs the same action as its key on the step where it applies (Deploy still asks first),
and is offered only there and only while that action is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import SystemCommand
from textual.screen import Screen

from screens import steps


def step_commands(screen: Screen) -> Iterable[SystemCommand]:
    """The commands of the step's row (``screens.steps``) that its screen allows right now."""
    step = getattr(screen, "step", None)
    if step not in steps.names():
        return
    for command in steps.get(step).commands:
        method = getattr(screen, f"action_{command.action}", None)
        if method is None:
            continue
        if screen.check_action(command.action, ()) is not True:
            continue  # off right now (e.g. Deploy while the profile has errors)
        yield SystemCommand(command.title, command.help, method)
