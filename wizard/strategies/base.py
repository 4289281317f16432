"""The Strategy base: everything kubeha asks of an HA strategy, in one object per strategy.

The validator, the renderer, the wizard's cards and form, the engine's run (a build before the
nodes, the order of the nodes, the check after them), verify and the drill all ask the
registered strategy (``wizard.strategies.registry``) instead of naming one. A strategy sets the
class attributes and overrides only the hooks it needs; the defaults below are a strategy with
no build, one wave, no cluster check and nothing beyond the probe in verify.

A hook takes what it needs as arguments (``wizard.strategies.hooks``): strategies import nothing
from the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from wizard.packages import Package
from wizard.problems import Problem
from wizard.profile import Profile
from wizard.strategies.fields import FieldInfo, check_choice, field_info, fields_of
from wizard.strategies.hooks import LabSite, Report, Runs, VerifyExtras

if TYPE_CHECKING:
    from wizard.plan import RenderPlan

# The engine's opener: a node's name -> a function that connects to it.
Opener = Callable[[str], Callable[[], Any]]


S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Table(Generic[T]):
    """A table of the profile that a strategy owns beside its section (local-nginx's
    ``install``): written only when the strategy is chosen, shown on the wizard's form after
    the health check under ``heading``, its rows in ``form_order`` (every described field when
    empty). ``check`` gives its problems (the strategy's own check calls it; under another
    strategy the table is set aside as written, never checked: ``wizard.profile_io``).
    ``of(profile)`` reads it typed."""

    name: str
    type: type[T]
    heading: str
    form_order: tuple[str, ...] = ()
    check: Callable[[T, Profile], list[Problem]] | None = None

    def of(self, profile: Profile) -> T:
        """This table of ``profile``, typed (its defaults when the profile leaves it out)."""
        return profile.table(self.name, self.type)


@dataclass(frozen=True)
class Card:
    """What the wizard's strategy card says (the card puts its number before the title)."""

    title: str  # "local nginx"
    short: str  # the word beside its number key in the help: "nginx"
    needs: str
    failover: str
    pick: str


class Strategy(Generic[S]):
    """One HA strategy whose section is an ``S``. Subclasses set the attributes; hooks have
    working defaults."""

    key: ClassVar[str]  # the profile's ``strategy`` value, e.g. "local-nginx"
    section: ClassVar[str]  # its table in the profile, e.g. "local_nginx"
    section_type: type[S]  # a frozen dataclass of described() fields
    # Its other tables in the profile (local-nginx's install), each its own; none by default.
    tables: ClassVar[tuple[Table[Any], ...]] = ()
    form_title: ClassVar[str]  # the heading of its section on the wizard's form
    card: ClassVar[Card]
    # Every package its nodes may need (the engine looks for their programs on each node).
    packages: ClassVar[tuple[Package, ...]] = ()
    # A one-node cluster may give its node a loopback address (the proxy runs on the node).
    loopback_single_node: ClassVar[bool] = False
    # Its balancer may run on dedicated load-balancer nodes ([[lb_nodes]]).
    lb_nodes: ClassVar[bool] = False
    # One node holds a VIP: verify shows the holder, the drill can take it (--master vip-holder).
    has_vip_holder: ClassVar[bool] = False
    prepare_title: ClassVar[str] = ""  # what prepare does, e.g. "the kube-nginx build"
    # The name of the wizard's pane that shows prepare (the Deploy screen), e.g. "kube-nginx".
    build_pane: ClassVar[str] = "build"
    table_title: ClassVar[str] = "table"  # what VerifyExtras.table holds, e.g. "IPVS table"

    def __repr__(self) -> str:
        return f"<strategy {self.key}>"

    # --- its profile section -----------------------------------------------------------------

    def fields(self) -> tuple[FieldInfo, ...]:
        """Its section's settings, described: the form shows them, the checks read them."""
        return fields_of(self.section_type)

    def field(self, name: str) -> FieldInfo:
        return field_info(self.section_type, name)

    def settings(self, profile: Profile) -> S:
        """Its section of ``profile``, typed (an instance of ``section_type``; its defaults
        when the profile leaves it out)."""
        return profile.table(self.section, self.section_type)

    def owned_tables(self) -> dict[str, type]:
        """Every table it owns in a profile, by name: its section, then its other tables."""
        return {self.section: self.section_type, **{t.name: t.type for t in self.tables}}

    def check(self, profile: Profile) -> list[Problem]:
        """Its section's problems (the validator checks everything else). The default checks
        every field that has choices."""
        problems: list[Problem] = []
        settings = self.settings(profile)
        for info in self.fields():
            if info.choices:
                check_choice(problems, info.path(self.section), getattr(settings, info.name), info)
        return problems

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        """Every path its plan may write on a node for ``profile``, whatever the install
        method, computed from the profile alone (valid or not): the validator refuses them as
        a kubeconfig to repoint. tests/wizard/test_kubeconfig_paths.py holds it to every plan."""
        return ()

    def uses_lb_nodes(self, profile: Profile) -> bool:
        """Does ``profile`` put its balancer on the ``[[lb_nodes]]``? Where it does not, the
        validator refuses them: they would be machines kubeha connects to for nothing."""
        return self.lb_nodes

    def lb_nodes_setting(self, profile: Profile) -> str:
        """The setting that puts the balancer elsewhere, for the validator's message ("" when
        the strategy never uses LB nodes)."""
        return ""

    def plan(self, profile: Profile) -> RenderPlan:
        """The files, services and packages of every node, for a valid profile."""
        raise NotImplementedError(f"strategy {self.key} renders nothing")

    def addresses(self, profile: Profile) -> Iterable[tuple[str, str]]:
        """(field, literal) of its section's addresses that must not be documentation
        addresses when kubeha connects (``wizard.example_addresses``)."""
        return ()

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        """Its section for a profile of the lab (as TOML values); the defaults by default."""
        return {info.name: info.default for info in self.fields()}

    # --- the engine's run --------------------------------------------------------------------

    def needs_prepare(self, profile: Profile) -> bool:
        """True when :meth:`prepare` has work to do before any node is touched."""
        return False

    def build_source(self, profile: Profile) -> tuple[str, str]:
        """What the Deploy screen's build pane says for :meth:`prepare`: (role, where), e.g.
        ("build", "local") or ("binary", "/path/to/binary")."""
        return ("build", "local")

    def prepare(
        self,
        profile: Profile,
        plan: RenderPlan,
        report: Report,
        open_node: Opener,
        *,
        dry_run: bool,
        uninstall: bool,
    ) -> RenderPlan:
        """Runs once before any node, when :meth:`needs_prepare`: the plan with what it made
        (a built binary). For an uninstall it makes nothing and gives the plan as installed.
        Raises :class:`~wizard.errors.PrepareFailed`: then no node is touched."""
        return plan

    def waves(self, plan: RenderPlan, names: list[str]) -> list[list[str]]:
        """The nodes to apply, in waves run one after the other (default: all at once)."""
        return [names]

    def cluster_nodes(self, profile: Profile) -> tuple[str, ...]:
        """The nodes whose connection stays open after their apply, for :meth:`cluster_check`."""
        return ()

    def cluster_check(
        self, profile: Profile, nodes: Mapping[str, Runs], report: Report
    ) -> list[str]:
        """After an apply, with the connected :meth:`cluster_nodes`: the cluster's problems."""
        return []

    # --- verify and the drill ----------------------------------------------------------------

    def verify_node(self, profile: Profile, name: str, node: Runs) -> VerifyExtras:
        """What ``kubeha verify`` shows of this node beyond its probe."""
        return VerifyExtras()

    def verify_problems(self, profile: Profile, extras: Mapping[str, VerifyExtras]) -> list[str]:
        """The cluster's problems from what verify saw on every node."""
        return []
