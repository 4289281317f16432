"""Each step's screen class (its row in ``screens.steps``), imported on first use.

Each step's module is imported when the wizard first goes there, or by :func:`import_all` in a
thread once the first screen is painted, so starting the wizard loads only the Start screen (not
the Preview's renderer and jinja2, nor the deploy engine's types).
"""

from __future__ import annotations

import gc
from importlib import import_module

from textual.screen import Screen

from screens import steps


def import_all() -> None:
    """Import every step's module (run in a thread once the first screen is up, so later
    first visits find them loaded), then move everything alive so far (modules, classes, the
    stylesheet) out of the garbage collector's reach: a full collection walked all of it, a
    100 ms pause at a random key press."""
    try:
        for step in steps.TABLE:
            import_module(step.screen.partition(":")[0])
    finally:
        gc.freeze()
        gc.enable()  # kubeha's start turned it off (wizard.commands.wizard_command)


def screen_class(step: str) -> type[Screen]:
    """The class of ``step``'s screen; its module is imported the first time."""
    module, _, name = steps.get(step).screen.partition(":")
    screen: type[Screen] = getattr(import_module(module), name)
    return screen
