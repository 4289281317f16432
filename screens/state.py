"""The wizard's shared state: the profile being edited, the secrets, the last run.

One plain object that every screen reads and writes; widgets never own data. The profile is
immutable (``wizard.profile``); every edit replaces it with a modified copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from screens import steps
from wizard.engine.model import RunSummary, Secrets
from wizard.problems import Problem
from wizard.profile import Master, Profile, Role
from wizard.profile_io import with_strategy
from wizard.strategies import registry
from wizard.validation import validate

DEFAULT_NAME = "my-cluster"

# The engine's entry point: run_apply(plan, options, sink, cancel, secrets) -> RunSummary.
Engine = Callable[..., RunSummary]
# The verifier: run_verify(profile, options, secrets) -> VerifyReport (any object with .nodes).
Verifier = Callable[..., Any]


def new_profile(name: str = DEFAULT_NAME, strategy: str | None = None) -> Profile:
    """An empty profile to start from (the first registered strategy unless named): no nodes
    yet, every section at its default."""
    return Profile(name=name, strategy=strategy or registry.names()[0], masters=())


def belongs_to(problem: Problem, prefixes: tuple[str, ...]) -> bool:
    """True when the problem's field is one of ``prefixes`` or lies beneath one of them."""
    return any(problem.field == p or problem.field.startswith((f"{p}.", f"{p}[")) for p in prefixes)


LEVELS = ("error", "warning")


def level_of(problems: Iterable[Problem]) -> str | None:
    """``"error"`` when any problem is an error, ``"warning"`` when only warnings, else None."""
    levels = {"error" if p.is_error else "warning" for p in problems}
    return next((level for level in LEVELS if level in levels), None)


def problems_for(problems: list[Problem], step: str) -> list[Problem]:
    """The problems that belong to ``step``: those naming a field it owns (``screens.steps``)."""
    prefixes = steps.fields(step)
    return [p for p in problems if belongs_to(p, prefixes)]


def first_step_with_errors(profile: Profile) -> str | None:
    problems = validate(profile)
    for step in steps.editing():
        if any(p.is_error for p in problems_for(problems, step)):
            return step
    return None


def _strategy_table(profile: Profile, name: str) -> object | None:
    """The profile's strategy's table ``name`` (``haproxy_keepalived``, ``install``), typed;
    None when ``name`` is none of its tables."""
    strategy = registry.find(profile.strategy)
    kind = strategy.owned_tables().get(name) if strategy is not None else None
    return None if kind is None else profile.table(name, kind)


def get_field(profile: Profile, path: str) -> Any:
    """The value at a dotted path such as ``haproxy_keepalived.vip`` (a strategy's table is
    read through its strategy)."""
    head, _, rest = path.partition(".")
    table = _strategy_table(profile, head)
    value: Any = getattr(profile, head) if table is None else table
    for part in rest.split(".") if rest else ():
        value = getattr(value, part)
    return value


def part(profile: Profile, name: str) -> object:
    """What the profile holds under a step's field ``name`` (a strategy's table: as held, or
    as set aside), for telling whether a kept screen is stale."""
    if name in registry.tables():
        return (profile.tables.get(name), profile.set_aside.get(name))
    return getattr(profile, name)


def _replaced(obj: Any, path: str, value: Any) -> Any:
    """A copy of a frozen dataclass tree with the value at a dotted path replaced."""
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(obj, **{head: value})
    return dataclasses.replace(obj, **{head: _replaced(getattr(obj, head), rest, value)})


def with_field(profile: Profile, path: str, value: Any) -> Profile:
    """A copy of ``profile`` with the value at a dotted path replaced (a strategy's table, such
    as ``local_nginx.listen_port``, in the profile's tables)."""
    head, _, rest = path.partition(".")
    table = _strategy_table(profile, head)
    if table is None or not rest:
        replaced: Profile = _replaced(profile, path, value)
        return replaced
    return profile.with_table(head, _replaced(table, rest, value))


@dataclass
class WizardState:
    """Everything the screens share. Secrets live here, in memory only, never in the profile."""

    profile: Profile = field(default_factory=new_profile)
    source: Path | None = None  # the file the profile was loaded from, if any
    saved_to: Path | None = None
    secrets: Secrets = field(default_factory=Secrets)
    resume: bool = False  # deploy continues an interrupted install
    only: tuple[str, ...] = ()  # deploy only these nodes (retry); empty: every node
    summary: RunSummary | None = None
    cancelled: bool = False
    run_error: str | None = None
    dry_run: dict[str, Any] = field(default_factory=dict)  # node -> NodeResult of a dry run
    # kubeadm's objects as the last dry run read them: (object and field, diff or why not).
    dry_run_objects: tuple[tuple[str, str], ...] = ()
    # The profile as last loaded or saved: quitting asks while ``profile`` differs from it.
    baseline: Profile | None = None
    # The tables of the strategies left on the Strategy step this session, by name: choosing
    # one again brings back what was typed (``wizard.profile_io.with_strategy``).
    stash: dict[str, object] = field(default_factory=dict)
    # The last profile validated and its problems (a profile is immutable: checked by identity).
    _checked: tuple[Profile, list[Problem]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.baseline is None:
            self.baseline = self.profile

    @property
    def dirty(self) -> bool:
        """True when the profile has edits that are not saved."""
        return self.profile != self.baseline

    def choose_strategy(self, key: str) -> None:
        """Switch the profile to the strategy named ``key``, keeping what was typed for the
        one it leaves (``stash``) and the tables its file set aside."""
        file_aside = self.baseline.set_aside if self.baseline is not None else {}
        self.profile = with_strategy(self.profile, key, self.stash, file_aside)

    def mark_saved(self) -> None:
        """The profile as it is now was just loaded or saved."""
        self.baseline = self.profile

    def problems(self, step: str | None = None) -> list[Problem]:
        checked = self._checked
        if checked is None or checked[0] is not self.profile:  # each profile validated once
            checked = self._checked = (self.profile, validate(self.profile))
        problems = list(checked[1])
        return problems if step is None else problems_for(problems, step)

    def step_levels(self) -> dict[str, str]:
        """Each editing step that holds a problem: ``"error"`` or ``"warning"``."""
        problems = self.problems()
        levels = {step: level_of(problems_for(problems, step)) for step in steps.editing()}
        return {step: level for step, level in levels.items() if level}

    def step_errors(self, step: str) -> list[Problem]:
        return [p for p in self.problems(step) if p.is_error]

    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.profile.all_nodes())

    def role_of(self, name: str) -> str:
        node = self.profile.node(name)
        return Role.MASTER if isinstance(node, Master) else self.profile.role_of(name)
