"""The wizard's App and ``make_app``, the one factory the CLI and the tests both call.

The App holds the shared :class:`~screens.state.WizardState`, the deploy engine and the run
history, and moves between steps with :meth:`KubehaApp.goto`. Nothing is built or contacted at
start: the first screen only lists profile files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from screens import steps
from screens.catalog import LastRun, SavedProfile, default_last_run, list_profiles
from screens.shown_fields import shown_problem, shown_text
from screens.state import Engine, Verifier, WizardState
from screens.step_screens import StepScreens
from screens.widgets.confirm import (
    ChoiceModal,
    overwrite_question,
    refusal_notice,
    run_question,
    stop_question,
    unsaved_question,
)
from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir
from wizard.profile import Profile
from wizard.profile_io import find_profile, load_profile

if TYPE_CHECKING:
    from screens.engine_runner import RunsEngine
    from wizard.render import RenderPlan


def default_engine() -> Engine:
    """``wizard.engine.apply.run_apply``, imported only when a run starts."""
    from wizard.engine.apply import run_apply

    return run_apply


def default_verifier() -> Verifier:
    """``wizard.engine.verify.run_verify``, imported only when the summary verifies."""
    from wizard.engine.verify import run_verify

    return run_verify


class KubehaApp(App):
    """The kubeha wizard: Start → Strategy → Nodes → Balancer → SSH → Clients → Preview → Deploy
    → Summary."""

    CSS_PATH = "app.tcss"
    TITLE = "kubeha"
    # q, ctrl+q and ctrl+c all quit, on every step (q not while typing in a field): see the help.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("q", "quit", "Quit", show=False),
    ]  # ? and F1 (help) are every step's own keys: screens/base.py

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
        # The example-address guard: the real engine and verifier connect; an injected one
        # that sends nothing (a test's fake says ``connects = False``) may run the examples.
        self._engine_connects = getattr(engine, "connects", True)
        checker = verifier if verifier is not None else engine
        self._verifier_connects = getattr(getattr(checker, "__self__", checker), "connects", True)
        self._last_run = last_run
        self.initial_step = initial_step
        self._theme_name = theme
        self._plan: RenderPlan | None = None

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

    def plan(self) -> RenderPlan:
        """The render plan of the profile as it is now: rendered once per profile, for Preview,
        and then the very object that Preview's dry run and the deploy hand to the engine.
        Raises KubehaError when the profile cannot be rendered."""
        if self._plan is None or self._plan.profile != self.state.profile:
            from wizard.render import build_plan  # jinja2: only once there is a plan to show

            self._plan = build_plan(self.state.profile)
        return self._plan

    def list_profiles(self) -> list[SavedProfile]:
        if self._last_run is None:
            self._last_run = default_last_run()
        return list_profiles(self._last_run)

    def profile_path(self) -> Path:
        return user_profiles_dir() / f"{self.state.profile.name}.toml"

    def own_file(self) -> Path | None:
        """The file this profile belongs to: the one last saved, or the one it was opened from
        (an example shipped with kubeha is never written to: it is saved as a copy)."""
        state = self.state
        if state.saved_to is not None:
            return state.saved_to
        source = state.source
        if source is None or source.resolve().parent == EXAMPLE_PROFILES_DIR.resolve():
            return None
        return source

    def save(self, then: Callable[[Path], None] | None = None) -> None:
        """Save the profile back to its own file; a renamed profile, a shipped example or a new
        one as NAME.toml in the user's profile folder (``kubeha wizard NAME`` opens it), after
        asking when that file is another's. The file it came from is the new text's model (its
        comments kept) and is left as it was. ``then(path)`` runs once it is written. Only the
        chosen strategy's section is saved; secrets are never part of a profile."""
        if any(p.is_error for p in self.state.problems("strategy")):
            self.notify("Fix the Strategy step first (name, strategy).", severity="error")
            return
        state = self.state
        own = self.own_file()
        renamed = state.baseline is not None and state.baseline.name != state.profile.name
        if own is not None and not renamed:
            self._write(own, then)
            return
        template = own or state.source
        path = self.profile_path()
        if not path.exists() or path == own:
            self._write(path, then, template, keep_layout=False)
            return

        def answered(answer: str | None) -> None:
            if answer == "overwrite":  # with the profile's own text, not the overwritten file's
                self._write(path, then, template, keep_layout=False)

        self.push_screen(overwrite_question(path), answered)

    def _write(
        self,
        path: Path,
        then: Callable[[Path], None] | None,
        template: Path | None = None,
        keep_layout: bool = True,
    ) -> None:
        from wizard.profile_save import write_profile  # tomlkit: only when saving

        profile = self.state.profile
        try:
            write_profile(profile, path, keep_layout=keep_layout, template=template)
        except OSError as exc:
            self.notify(
                f"{path}: {exc.strerror or exc}", title="Not saved", severity="error", markup=False
            )
            return
        self.state.saved_to = path
        self.state.mark_saved()
        self.notify(f"Saved to {path}", title="Profile saved", markup=False)
        if then is not None:
            then(path)

    # Never connect to the example profiles' documentation addresses ----------------------------

    def example_refusal(self, command: str, verifying: bool = False) -> str | None:
        """The message, as ``kubeha apply`` / ``verify`` words it (counted from 1), when
        ``command`` would connect to a documentation address of the profile; else None."""
        from wizard.example_addresses import ExampleAddressError, refuse_example_addresses

        if not (self._verifier_connects if verifying else self._engine_connects):
            return None
        try:
            refuse_example_addresses(self.state.profile, command)
        except ExampleAddressError as exc:
            return shown_text(str(exc), self.state.profile)
        return None

    def refuses_to_connect(self, command: str, verifying: bool = False) -> bool:
        """True, and the operator shown why, when ``command`` must not run (example addresses);
        checked before anything connects."""
        refusal = self.example_refusal(command, verifying)
        if refusal is not None:
            self.push_screen(refusal_notice(refusal))
        return refusal is not None

    # Questions before acting -------------------------------------------------------------------

    def confirm_run(
        self, verb: str, nodes: Sequence[str], go: Callable[[], None], note: str = ""
    ) -> None:
        """Ask before a run changes nodes: the profile, strategy, nodes and every warning;
        ``go()`` runs only when the operator chooses ``verb`` (Cancel has the focus). A profile
        with example addresses is refused before anything is asked."""
        if self.refuses_to_connect(verb.lower()):
            return
        profile = self.state.profile
        warnings = [shown_problem(p, profile) for p in self.state.problems() if not p.is_error]
        question = run_question(verb, self.state.profile, nodes, warnings, note)
        self.push_screen(question, lambda answer: go() if answer == "confirm" else None)

    def running_engine_screen(self) -> RunsEngine | None:
        from screens.engine_runner import RunsEngine

        for screen in reversed(self.screen_stack):
            if isinstance(screen, RunsEngine) and screen.engine_running:
                return screen
        return None

    async def action_quit(self) -> None:
        """Quit, but never drop unsaved edits or walk away from a deploy without asking."""
        if isinstance(self.screen, ChoiceModal):
            return  # a question is already open
        running = self.running_engine_screen()
        if running is not None and running.changes_nodes:
            self._ask_to_stop(running)
        elif self.state.dirty:
            self.push_screen(unsaved_question(self.state.profile.name), self._unsaved_answered)
        else:
            self.leave()

    def leave(self) -> None:
        """Exit now, or once a running dry run has stopped (its thread finishes its step)."""
        running = self.running_engine_screen()
        if running is not None:
            running.stop_and_quit()
        else:
            self.exit()

    def _unsaved_answered(self, answer: str | None) -> None:
        if answer == "discard":
            self.leave()
        elif answer == "save":
            self.save(then=lambda path: self.leave())

    def _ask_to_stop(self, screen: RunsEngine) -> None:
        views = getattr(screen, "views", {})
        running = sum(getattr(v, "running", False) for v in views.values())

        def answered(answer: str | None) -> None:
            if answer != "stop":
                return
            while self.screen is not screen and len(self.screen_stack) > 1:
                self.pop_screen()  # a host-key question the stopping engine no longer needs
            screen.stop_and_quit()

        self.push_screen(stop_question(running, self.state.dirty), answered)

    # Navigation ------------------------------------------------------------------------------

    @cached_property
    def step_screens(self) -> StepScreens:
        return StepScreens(self, lambda: self.state)

    def screen_for(self, step: str) -> Screen:
        """The step's screen: the kept one while what it shows is unchanged, else a new one."""
        return self.step_screens.get(step)

    def goto(self, step: str) -> None:
        self.step_screens.leaving(self.screen)
        self.switch_screen(self.screen_for(step))

    def reachable(self, step: str) -> bool:
        """A step can be jumped to (its row says so) when every editing step before it is free
        of errors."""
        if not steps.get(step).jump:
            return False
        order = steps.names()
        before = order[: order.index(step)]
        return not any(self.state.step_errors(s) for s in before if s in steps.editing())

    def on_mount(self) -> None:
        from wizard.settings import get_setting

        # a theme the CLI chose (16 colours) wins; else the one the operator last picked
        chosen = self._theme_name or get_setting("theme")
        if isinstance(chosen, str) and chosen in self.available_themes:
            self.theme = chosen
        self._theme_seen = self.theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.push_screen(self.screen_for(self.initial_step))

    def _remember_theme(self, theme: Theme) -> None:
        """The operator picked a theme (ctrl+p, Theme): the next start uses it too."""
        from wizard.settings import save_setting

        if theme.name == self._theme_seen:
            return  # the theme applied at start, not a choice
        self._theme_seen = theme.name
        try:
            save_setting("theme", theme.name)
        except OSError as exc:
            self.notify(f"The theme is not remembered: {exc}", severity="warning", markup=False)

    def action_help(self) -> None:
        """The keys of the current step (``?`` or F1 again closes it)."""
        from screens.help import HelpScreen, help_rows

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        step = getattr(self.screen, "step", None)
        title = f"Keys: {steps.title(step)}" if step in steps.names() else "Keys"
        self.push_screen(HelpScreen(title, help_rows(self.screen)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from screens.palette import step_commands

        yield from super().get_system_commands(screen)
        yield from step_commands(screen)
        for step in steps.names():
            if self.reachable(step) and step != getattr(screen, "step", None):
                title = steps.title(step)
                yield SystemCommand(
                    f"Go to {title}", f"Open the {title} step", lambda step=step: self.goto(step)
                )
        if steps.names().index(getattr(screen, "step", "start")) > 0:
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
    Deploy, dry run and verify refuse the examples' documentation addresses unless the engine
    (or verifier) says ``connects = False`` (a scripted one that sends nothing).
    Raises ProfileError when ``profile_path`` cannot be read."""
    from screens.state import first_step_with_errors

    state = WizardState()
    if profile_path is not None:
        profile = load_profile(profile_path)
        state.source = find_profile(profile_path)  # a saved profile's name: its file
    if profile is not None:
        state.profile = profile
        state.mark_saved()
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
