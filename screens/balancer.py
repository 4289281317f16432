"""Step 4, Load balancer settings: the chosen strategy's section, the health check and the
install method, prefilled from the profile (the strategy's defaults for a new one), each field
with a one-line hint."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical

from screens.base import WizardScreen
from screens.state import get_field, with_field
from screens.widgets.form import FieldSpec, Form
from wizard.profile import INSTALL_METHODS, IPVS_SCHEDULERS, RUN_ON_CHOICES

STRATEGY_FIELDS: dict[str, tuple[str, tuple[FieldSpec, ...]]] = {
    "local-nginx": (
        "Local nginx (on every node)",
        (
            FieldSpec(
                "local_nginx.listen_address",
                "Listen address",
                "keep it on loopback: only the node uses the proxy",
            ),
            FieldSpec(
                "local_nginx.listen_port",
                "Proxy port",
                "clients use this port; must differ from the apiserver's",
                "int",
            ),
        ),
    ),
    "haproxy-keepalived": (
        "haproxy + keepalived",
        (
            FieldSpec(
                "haproxy_keepalived.vip",
                "Virtual IP",
                "a free address in the LB nodes' subnet",
                placeholder="e.g. 10.0.0.100",
            ),
            FieldSpec(
                "haproxy_keepalived.prefix_length",
                "Prefix length",
                "the VIP's subnet size, e.g. 24",
                "int",
            ),
            FieldSpec(
                "haproxy_keepalived.interface",
                "Interface",
                "the NIC that carries the nodes' addresses",
            ),
            FieldSpec(
                "haproxy_keepalived.virtual_router_id",
                "Router id",
                "1-255, unique on this L2 segment",
                "int",
            ),
            FieldSpec(
                "haproxy_keepalived.frontend_port",
                "Frontend port",
                "haproxy listens here; the apiserver keeps 6443",
                "int",
            ),
            FieldSpec(
                "haproxy_keepalived.unicast",
                "Unicast VRRP",
                "send VRRP to each peer; no multicast needed",
                "bool",
            ),
            FieldSpec(
                "haproxy_keepalived.run_on",
                "Run on",
                "the masters, or dedicated LB nodes",
                "choice",
                RUN_ON_CHOICES,
            ),
            FieldSpec(
                "haproxy_keepalived.advert_int",
                "Advert interval",
                "seconds between VRRP adverts",
                "int",
            ),
        ),
    ),
    "ipvs": (
        "IPVS (on every node)",
        (
            FieldSpec("ipvs.vip", "Virtual IP", "outside every node and pod network"),
            FieldSpec("ipvs.port", "Port", "the virtual server's port", "int"),
            FieldSpec(
                "ipvs.scheduler",
                "Scheduler",
                "rr: round robin; lc: least connections",
                "choice",
                IPVS_SCHEDULERS,
            ),
            FieldSpec(
                "ipvs.apiserver_hostname", "API host name", "written to /etc/hosts on every node"
            ),
        ),
    ),
}

HEALTH_FIELDS = (
    FieldSpec("health_check.path", "Check path", "the apiserver URL that says ready"),
    FieldSpec("health_check.interval", "Interval (s)", "seconds between checks", "float"),
    FieldSpec("health_check.timeout", "Timeout (s)", "at most the interval", "float"),
    FieldSpec("health_check.fall", "Fall", "failed checks before a master is dropped", "int"),
    FieldSpec("health_check.rise", "Rise", "good checks before it is used again", "int"),
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


def sections_for(strategy: str) -> list[tuple[str, tuple[FieldSpec, ...]]]:
    sections = [STRATEGY_FIELDS[strategy], ("Health check", HEALTH_FIELDS)]
    if strategy == "local-nginx":
        sections.append(("Install", INSTALL_FIELDS))
    return sections


class BalancerScreen(WizardScreen):
    step = "balancer"
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
        path = event.spec.path
        if event.problem is not None:
            self.local_problems[path] = event.problem
        else:
            self.local_problems.pop(path, None)
            self.state.profile = with_field(self.state.profile, path, event.value)
        self.revalidate()
