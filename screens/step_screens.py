"""The wizard's step screens, built once and kept, so going back and forth costs no rebuild.

The steps whose row (``screens.steps``) says ``kept`` (Strategy to Preview) are installed in the
App the first time they are shown and switched to after that. A kept screen is reused while what
it shows is unchanged: the fields its row owns and the strategy (and the secrets, for SSH), or
for Preview the whole profile. When
another step changed that, it is built again from the state. A reused screen revalidates on
resume, since a problem may name its fields because of another step's edit. Start, Deploy and
Summary show one moment (the profile files, one run) and are built each time. Shortly after the
first screen, the other steps' modules are imported in a thread.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

from screens import steps
from screens.registry import import_all, screen_class
from screens.state import WizardState, part

PRELOAD_AFTER_S = 0.3  # after the first screen is up


class StepScreens:
    """Hands the App a screen per step: a kept one when still current, else a new one."""

    def __init__(self, app: App, state: Callable[[], WizardState]) -> None:
        self.app = app
        self.state = state  # the App's state now (Start replaces it)
        self.kept: dict[str, tuple[Screen, tuple[Any, ...]]] = {}
        self.built = 0  # screens constructed, for the tests

    def shown(self, step: str) -> tuple[Any, ...]:
        """What a step's screen shows of the state; the screen is stale when this changes."""
        state = self.state()
        profile = state.profile
        row = steps.get(step)
        if row.shows_profile:
            return (state, profile)
        parts = tuple(part(profile, name) for name in row.fields())
        secrets = state.secrets if row.shows_secrets else None
        return (state, profile.strategy, secrets, *parts)

    def leaving(self, screen: Screen) -> None:
        """Record what a kept screen shows as the operator leaves it (its own edits included)."""
        step = getattr(screen, "step", "")
        kept = self.kept.get(step)
        if kept is not None and kept[0] is screen:
            self.kept[step] = (screen, self.shown(step))
            gc.freeze()  # a kept screen lives on: keep the collector from walking it again

    def get(self, step: str) -> Screen:
        if not self.built:
            self.app.set_timer(PRELOAD_AFTER_S, self._preload)
        kept = self.kept.get(step)
        if kept is not None:
            screen, shown = kept
            if _same(shown, self.shown(step)):
                _resume(screen)
                return screen
            self._drop(step, screen)
        screen = screen_class(step)()
        self.built += 1
        if steps.get(step).kept and not self.app.is_screen_installed(step):
            self.app.install_screen(screen, name=step)
            self.kept[step] = (screen, self.shown(step))
        return screen

    def _preload(self) -> None:
        """Import the other steps' modules in a thread while the operator reads the first
        screen: each first visit then only builds its screen."""
        self.app.run_worker(import_all, thread=True, group="preload", exit_on_error=False)

    def _drop(self, step: str, screen: Screen) -> None:
        del self.kept[step]
        if screen in self.app.screen_stack:
            return  # going to the step on screen: the new one is simply not kept
        self.app.uninstall_screen(screen)
        screen.remove()


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return old[0] is new[0] and old[1:] == new[1:]


def _resume(screen: Screen) -> None:
    """Bring a kept screen up to date with the state it did not see change."""
    for hook in ("show_profile_in_header", "revalidate"):
        method = getattr(screen, hook, None)
        if callable(method):
            method()
