"""The wizard's steps: one row each, in order, in :data:`TABLE`; everything else is read from it.

A row names the step, its title (step bar, help, palette), its screen class (imported on first
use), the profile fields it owns (its validation scope: which problems it shows and marks,
whether it blocks the steps after it), whether its screen is built once and kept, and the
palette commands it offers. The order of the rows is the order of the wizard. Adding a step is
adding a row (``tests/screens/test_step_table.py`` adds a dummy one and follows it everywhere).

Nothing here imports Textual: the state, the step bar, the help, the palette and the App all
read this module, and it reads none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.strategies import registry


@dataclass(frozen=True)
class Command:
    """A palette command (ctrl+p) the step offers: its screen's ``action_<action>``, offered only
    while ``check_action`` allows it."""

    action: str
    title: str
    help: str


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    screen: str  # "module:Class", imported the first time the wizard goes there
    # The profile fields the step edits: the problems whose field is one of these (or lies
    # beneath one) belong to it. A step that owns fields is an editing step.
    owns: tuple[str, ...] = ()
    # and every registered strategy's table (its section, local-nginx's install)
    owns_strategy_sections: bool = False
    kept: bool = False  # its screen is built once and kept while what it shows is unchanged
    shows_profile: bool = False  # kept screen: stale when anything in the profile changed
    shows_secrets: bool = False  # kept screen: stale when the secrets changed
    jump: bool = True  # may be jumped to (palette "Go to") once the steps before are error-free
    profile_open: bool = True  # False: no profile is open yet (nothing to mark)
    header_names_profile: bool = True  # the header shows the profile's name and strategy
    commands: tuple[Command, ...] = ()

    def fields(self) -> tuple[str, ...]:
        if self.owns_strategy_sections:
            return (*registry.tables(), *self.owns)
        return self.owns


TABLE: tuple[Step, ...] = (
    Step(
        "start",
        "Start",
        "screens.start:StartScreen",
        profile_open=False,
        header_names_profile=False,
    ),
    Step(
        "strategy",
        "Strategy",
        "screens.strategy:StrategyScreen",
        owns=("name", "strategy", "schema_version"),
        kept=True,
        header_names_profile=False,
    ),
    Step(
        "nodes",
        "Nodes",
        "screens.nodes:NodesScreen",
        owns=("masters", "workers", "lb_nodes"),
        kept=True,
    ),
    Step(
        "balancer",
        "Balancer",
        "screens.balancer:BalancerScreen",
        owns=("health_check", "cluster"),
        owns_strategy_sections=True,
        kept=True,
    ),
    Step("ssh", "SSH", "screens.ssh:SshScreen", owns=("ssh",), kept=True, shows_secrets=True),
    Step("clients", "Clients", "screens.clients:ClientsScreen", owns=("clients",), kept=True),
    Step(
        "preview",
        "Preview",
        "screens.preview:PreviewScreen",
        kept=True,
        shows_profile=True,
        commands=(
            Command("next", "Deploy", "Deploy the profile to its nodes (asks first)"),
            Command("dry_run", "Dry run", "Diff every node's files without changing anything"),
            Command("copy", "Copy", "Copy the file shown to the clipboard"),
        ),
    ),
    Step("deploy", "Deploy", "screens.deploy:DeployScreen", jump=False),
    Step(
        "summary",
        "Summary",
        "screens.summary:SummaryScreen",
        jump=False,
        commands=(
            Command("verify", "Verify", "Check /readyz through every node's load balancer"),
            Command("retry", "Retry failed nodes", "Deploy again to the nodes that failed"),
        ),
    ),
)


# Read from the table at each call (it is nine rows), so a test that adds a row sees it everywhere.


def names() -> tuple[str, ...]:
    """Every step's name, in the wizard's order."""
    return tuple(step.name for step in TABLE)


def get(name: str) -> Step:
    for step in TABLE:
        if step.name == name:
            return step
    raise KeyError(name)


def title(name: str) -> str:
    return get(name).title


def editing() -> tuple[str, ...]:
    """The steps that edit the profile (own fields), in order."""
    return tuple(step.name for step in TABLE if step.fields())


def fields(name: str) -> tuple[str, ...]:
    """The profile fields ``name`` owns: the prefixes of the problems that belong to it."""
    return get(name).fields()


_step_of: dict[type, tuple[tuple[Step, ...], str]] = {}  # class -> (the table read, its step)


def step_of(cls: type) -> str:
    """The step whose row names ``cls`` (or the nearest of its bases) as its screen."""
    known = _step_of.get(cls)
    if known is not None and known[0] is TABLE:
        return known[1]
    rows = {step.screen: step.name for step in TABLE}
    for klass in cls.__mro__:
        name = rows.get(f"{klass.__module__}:{klass.__qualname__}")
        if name is not None:
            _step_of[cls] = (TABLE, name)
            return name
    raise LookupError(f"{cls.__qualname__} is no step's screen (screens.steps.TABLE)")
