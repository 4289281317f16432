"""Step 4, Load balancer settings: the chosen strategy's section (its fields as the strategy
describes them), the health check, the cluster's kubeadm API and the strategy's other tables
(local-nginx's install method), prefilled from the profile (the strategy's defaults for
a new one), each field with a one-line hint."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical

from screens.base import WizardScreen
from screens.state import get_field
from screens.widgets.form import FieldSpec, Form
from wizard import kubeadm_api
from wizard.profile import CHECK_AUTHS
from wizard.strategies import registry
from wizard.strategies.base import Strategy, Table
from wizard.strategies.fields import FieldInfo, fields_of

HEALTH_FIELDS = (
    FieldSpec("health_check.path", "Check path", "the apiserver URL that says ready"),
    FieldSpec("health_check.interval", "Interval (s)", "seconds between checks", "float"),
    FieldSpec("health_check.timeout", "Timeout (s)", "at most the interval", "float"),
    FieldSpec("health_check.fall", "Fall", "failed checks before a master is dropped", "int"),
    FieldSpec("health_check.rise", "Rise", "good checks before it is used again", "int"),
    FieldSpec(
        "health_check.auth",
        "Check auth",
        "anonymous · client-cert (reads /readyz) · alive-on-401 (any answer is up)",
        "choice",
        CHECK_AUTHS,
    ),
    FieldSpec(
        "health_check.client_cert",
        "Client cert",
        "client-cert: PEM with its key on every checking node (kubelet's)",
    ),
    FieldSpec("health_check.client_key", "Client key", "client-cert: empty if in the cert file"),
)

CLUSTER_FIELDS = (
    FieldSpec(
        "cluster.kubeadm_api",
        "kubeadm API",
        "v1beta4: kubeadm 1.31+; v1beta3: 1.22 to 1.35",
        "choice",
        kubeadm_api.CHOICES,
    ),
)


def _rows(table: str, infos: tuple[FieldInfo, ...]) -> tuple[FieldSpec, ...]:
    return tuple(
        FieldSpec(
            info.path(table), info.label, info.help, info.kind, info.choices, info.placeholder
        )
        for info in infos
    )


def strategy_fields(strategy: Strategy) -> tuple[FieldSpec, ...]:
    """The form rows of a strategy's section, from its field descriptions."""
    return _rows(strategy.section, strategy.fields())


def table_fields(table: Table) -> tuple[FieldSpec, ...]:
    """The form rows of another table a strategy owns (local-nginx's install), in its order."""
    infos = {info.name: info for info in fields_of(table.type)}
    order = table.form_order or tuple(infos)
    return _rows(table.name, tuple(infos[name] for name in order))


def sections_for(key: str) -> list[tuple[str, tuple[FieldSpec, ...]]]:
    """The form's sections for the strategy named ``key`` (none of its own when unknown)."""
    strategy = registry.find(key)
    sections = [] if strategy is None else [(strategy.form_title, strategy_fields(strategy))]
    sections.append(("Health check", HEALTH_FIELDS))
    sections.append(("Cluster (kubeadm)", CLUSTER_FIELDS))
    for table in strategy.tables if strategy is not None else ():
        sections.append((table.heading, table_fields(table)))
    return sections


class BalancerScreen(WizardScreen):
    show_problems = True

    def compose_body(self) -> ComposeResult:
        profile = self.state.profile
        sections = sections_for(profile.strategy)
        values = {
            spec.path: get_field(profile, spec.path) for _, specs in sections for spec in specs
        }
        with Vertical(id="body"):
            yield Form(sections, values, id="form")

    def on_mount(self) -> None:
        super().on_mount()
        self.query("#form Input, #form Select, #form Checkbox").first().focus()

    @on(Form.Edited)
    def _edited(self, event: Form.Edited) -> None:
        self.apply_edit(event.spec.path, event.value, event.problem)
