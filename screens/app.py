"""The wizard's App and ``make_app``, the one factory the CLI and the tests both call.

The App holds the shared :class:`~screens.state.WizardState`, the deploy engine and the run
history, and moves between steps with :meth:`KubehaApp.goto`. Nothing is built or contacted at
start: the first screen only lists profile files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from screens.catalog import LastRun, SavedProfile, default_last_run, list_profiles
from screens.state import STEP_FIELDS, STEP_TITLES, STEPS, Engine, Verifier, WizardState
from wizard.paths import user_profiles_dir
from wizard.profile import Profile
from wizard.profile_io import load_profile, save_profile


def default_engine() -> Engine:
    """``wizard.engine.apply.run_apply``, imported only when a run starts."""
    from wizard.engine.apply import run_apply

    return run_apply


def default_verifier() -> Verifier:
    """``wizard.engine.verify.run_verify``, imported only when the summary verifies."""
    from wizard.engine.verify import run_verify

    return run_verify


class KubehaApp(App):
    """The kubeha wizard: Start → Strategy → Nodes → Balancer → SSH → Preview → Deploy → Summary."""

    CSS_PATH = "app.tcss"
    TITLE = "kubeha"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        state: WizardState,
        *,
        engine: Engine | None = None,
        verifier: Verifier | None = None,
        last_run: LastRun | None = None,
        initial_step: str = "start",
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self._engine = engine
        # An injected engine (a test's fake) never gets the real verifier, which would SSH to
        # the profile's nodes: it brings its own ``verify`` or there is none.
        self._verifier = verifier
        if verifier is None and engine is not None:
            self._verifier = getattr(engine, "verify", None)
        self._verifier_default = verifier is None and engine is None
        self._last_run = last_run
        self.initial_step = initial_step
        self._theme_name = theme

    # Services the screens use ----------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = default_engine()
        return self._engine

    @property
    def verifier(self) -> Verifier | None:
        if self._verifier is None and self._verifier_default:
            self._verifier = default_verifier()
        return self._verifier

    def list_profiles(self) -> list[SavedProfile]:
        if self._last_run is None:
            self._last_run = default_last_run()
        return list_profiles(self._last_run)

    def profile_path(self) -> Path:
        return user_profiles_dir() / f"{self.state.profile.name}.toml"

    def save(self) -> Path | None:
        """Save the profile into the user's profile folder; secrets are never part of it."""
        if any(p.is_error for p in self.state.problems("strategy")):
            self.notify("Fix the profile's name first.", severity="error")
            return None
        path = save_profile(self.state.profile, self.profile_path())
        self.state.saved_to = path
        self.notify(f"Saved {path.name} to your profile folder.", title="Profile saved")
        return path

    # Navigation ------------------------------------------------------------------------------

    def screen_for(self, step: str) -> Screen:
        from screens.registry import SCREENS

        return SCREENS[step]()

    def goto(self, step: str) -> None:
        self.switch_screen(self.screen_for(step))

    def reachable(self, step: str) -> bool:
        """A step can be jumped to when every editing step before it is free of errors."""
        if step in ("deploy", "summary"):
            return False
        before = STEPS[: STEPS.index(step)]
        return not any(self.state.step_errors(s) for s in before if s in STEP_FIELDS)

    def on_mount(self) -> None:
        if self._theme_name:
            self.theme = self._theme_name
        self.push_screen(self.screen_for(self.initial_step))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for step in STEPS:
            if self.reachable(step) and step != getattr(screen, "step", None):
                yield SystemCommand(
                    f"Go to {STEP_TITLES[step]}",
                    f"Open the {STEP_TITLES[step]} step",
                    lambda step=step: self.goto(step),
                )
        if STEPS.index(getattr(screen, "step", "start")) > 0:
            yield SystemCommand("Save profile", "Write the profile to your folder", self.save)


def make_app(
    profile_path: Path | None = None,
    *,
    engine: Engine | None = None,
    verifier: Verifier | None = None,
    last_run: LastRun | None = None,
    profile: Profile | None = None,
    initial_step: str | None = None,
    theme: str | None = None,
) -> KubehaApp:
    """Build the wizard. With a profile (a path, or a Profile for tests) it opens at the first
    step that has an error, or at Preview; without one, at Start. ``engine`` defaults to
    ``wizard.engine.apply.run_apply``, ``verifier`` to ``wizard.engine.verify.run_verify`` (or
    to the injected engine's ``verify``, if it has one) and ``last_run`` to ``wizard.engine.runstate.last_run``.
    Raises ProfileError when ``profile_path`` cannot be read."""
    from screens.state import first_step_with_errors

    state = WizardState()
    if profile_path is not None:
        profile = load_profile(profile_path)
        state.source = profile_path
    if profile is not None:
        state.profile = profile
        step = initial_step or first_step_with_errors(profile) or "preview"
    else:
        step = initial_step or "start"
    return KubehaApp(
        state,
        engine=engine,
        verifier=verifier,
        last_run=last_run,
        initial_step=step,
        theme=theme,
    )
