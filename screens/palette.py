"""The wizard's own commands in the command palette (ctrl+p): Deploy, Dry run, Copy, Verify.

Each runs the same action as its key on the step where it applies (Deploy still asks first),
and is offered only there and only while that action is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import SystemCommand
from textual.screen import Screen

# step, action, title, help
STEP_COMMANDS = (
    ("preview", "next", "Deploy", "Deploy the profile to its nodes (asks first)"),
    ("preview", "dry_run", "Dry run", "Diff every node's files without changing anything"),
    ("preview", "copy", "Copy", "Copy the file shown to the clipboard"),
    ("summary", "verify", "Verify", "Check /readyz through every node's load balancer"),
    ("summary", "retry", "Retry failed nodes", "Deploy again to the nodes that failed"),
)


def step_commands(screen: Screen) -> Iterable[SystemCommand]:
    step = getattr(screen, "step", None)
    for where, action, title, help_text in STEP_COMMANDS:
        method = getattr(screen, f"action_{action}", None)
        if where != step or method is None:
            continue
        if screen.check_action(action, ()) is not True:
            continue  # off right now (e.g. Deploy while the profile has errors)
        yield SystemCommand(title, help_text, method)
