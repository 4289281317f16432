"""Step 4, Load balancer settings: the chosen strategy's section (its fields as the strategy
describes them), the health check, the cluster's kubeadm API and, for a strategy with more than
one install method, the install method, prefilled from the profile (the strategy's defaults for
a new one), each field with a one-line hint."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical

from screens.base import WizardScreen
from screens.state import get_field
from screens.widgets.form import FieldSpec, Form
from wizard import kubeadm_api
from wizard.profile import CHECK_AUTHS, INSTALL_METHODS
from wizard.strategies import registry
from wizard.strategies.base import Strategy

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

INSTALL_FIELDS = (
    FieldSpec(
        "install.method",
        "Install method",
        "package: distro nginx · source: build · binary: yours",
        "choice",
        INSTALL_METHODS,
    ),
    FieldSpec("install.prefix", "Prefix", "where a source or binary kube-nginx lives"),
    FieldSpec(
        "install.source_package_version",
        "Source version",
        "source: Debian nginx source package version to build",
        "optstr",
    ),
    FieldSpec(
        "install.source_tarball",
        "Source tarball",
        "source: or a local nginx tarball",
        "optstr",
    ),
    FieldSpec(
        "install.source_sha256",
        "Source sha256",
        "source: the tarball's (or the package's .dsc) sha256",
        "optstr",
    ),
    FieldSpec("install.build_host", "Build host", "source: 'local' or a node's name"),
    FieldSpec(
        "install.binary_path", "Binary path", "binary: a ready kube-nginx (stream module)", "optstr"
    ),
)


def strategy_fields(strategy: Strategy) -> tuple[FieldSpec, ...]:
    """The form rows of a strategy's section, from its field descriptions."""
    return tuple(
        FieldSpec(
            info.path(strategy.section),
            info.label,
            info.help,
            info.kind,
            info.choices,
            info.placeholder,
        )
        for info in strategy.fields()
    )


def sections_for(key: str) -> list[tuple[str, tuple[FieldSpec, ...]]]:
    """The form's sections for the strategy named ``key`` (none of its own when unknown)."""
    strategy = registry.find(key)
    sections = [] if strategy is None else [(strategy.form_title, strategy_fields(strategy))]
    sections.append(("Health check", HEALTH_FIELDS))
    sections.append(("Cluster (kubeadm)", CLUSTER_FIELDS))
    if strategy is not None and len(strategy.install_methods) > 1:
        sections.append(("Install", INSTALL_FIELDS))
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
