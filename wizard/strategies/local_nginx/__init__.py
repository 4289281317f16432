"""local-nginx: an nginx stream proxy on every node, listening on 127.0.0.1:8443 by default, with
every master as an upstream (the kubeasz / seed-guide design, failover-tuned). Clients dial
``apiserver.cluster.local:8443``, which kubeha's /etc/hosts line on every node resolves to the
proxy (``wizard.strategies.local_endpoint``).

Install method ``package`` runs the distro's nginx with its stream module under its own unit and
config (beside any nginx the node already runs); ``source`` and ``binary`` run a kube-nginx binary
under the install prefix, as the seed guides do, built by ``nginx_build`` beside it (the
strategy's ``prepare``); ``layout`` says where each file lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wizard.field_checks import check_ip, check_port, master_ports
from wizard.netaddr import never_a_host, parse_ip
from wizard.plan import RenderedFile, RenderPlan
from wizard.problems import Problem, error, warning
from wizard.profile import InstallMethod, Profile
from wizard.strategies import local_endpoint
from wizard.strategies.base import Card, Opener, Strategy
from wizard.strategies.common import (
    CUTTER_UNIT,
    HOSTS_FILE,
    SESSION_CUTTER_PATHS,
    apiserver_hostname_field,
    session_cutter_files,
)
from wizard.strategies.fields import described
from wizard.strategies.hooks import LabSite, Report
from wizard.strategies.local_nginx.layout import (
    PACKAGE_CONF,
    PACKAGE_NGINX,
    PID_FILE,
    STREAM_MODULE,
    UNIT,
    UNIT_PATH,
    layout,
)
from wizard.strategies.local_nginx.nginx_build.phase import build_binary, with_binary
from wizard.strategies.packages import Package
from wizard.templating import render_template

SECTION = "local_nginx"
FAIL_TIMEOUT_S = 10
NGINX = Package("nginx", ("nginx-light", "libnginx-mod-stream"), ("nginx", "nginx-mod-stream"))


@dataclass(frozen=True)
class LocalNginx:
    """The ``[local_nginx]`` section."""

    listen_address: str = described(
        "127.0.0.1", "Listen address", "keep it on loopback: only the node uses the proxy"
    )
    listen_port: int = described(
        8443, "Proxy port", "clients use this port; must differ from the apiserver's"
    )
    apiserver_hostname: str = apiserver_hostname_field()


def nginx_command(profile: Profile) -> str:
    where = layout(profile)
    command = f"{where['binary']} -c {where['conf']}"
    return f"{command} -p {where['prefix']}/" if where["prefix"] else command


def check_argv(profile: Profile) -> tuple[str, ...]:
    where = layout(profile)
    argv = (where["binary"], "-t", "-q", "-c", "{file}")
    return (*argv, "-p", f"{where['prefix']}/") if where["prefix"] else argv


def plan(profile: Profile) -> RenderPlan:
    where = layout(profile)
    package = profile.install.method == InstallMethod.PACKAGE
    conf = render_template(
        "local-nginx/kube-nginx.conf.j2",
        profile=profile,
        load_stream_module=package,
        stream_module=STREAM_MODULE,
        pid_file=PID_FILE,
        max_fails=profile.health_check.fall,
        fail_timeout=FAIL_TIMEOUT_S,
    )
    unit = render_template(
        "local-nginx/kube-nginx.service.j2",
        profile=profile,
        pid_file=PID_FILE,
        nginx_command=nginx_command(profile),
    )
    files = (
        RenderedFile(
            where["conf"],
            conf,
            "local-nginx/kube-nginx.conf.j2",
            check=check_argv(profile),
            service=UNIT,
        ),
        RenderedFile(
            UNIT_PATH,
            unit,
            "local-nginx/kube-nginx.service.j2",
            service=UNIT,
            restart=True,
        ),
        *session_cutter_files(profile),
    )
    ln: LocalNginx = profile.section(SECTION)
    packages = (NGINX,) if package else ()
    services = (UNIT, CUTTER_UNIT)
    return local_endpoint.node_local_plan(profile, ln, files, services, packages, (UNIT, "SIGQUIT"))


def check(profile: Profile) -> list[Problem]:
    return check_listener(profile, SECTION)


def check_listener(profile: Profile, name: str) -> list[Problem]:
    """The listen address and port of a proxy on every node, and the API host name clients
    dial, in section ``name`` (any section with ``listen_address``, ``listen_port`` and
    ``apiserver_hostname``: local-haproxy's too)."""
    section = profile.section(name)
    problems: list[Problem] = []
    if check_ip(
        problems, f"{name}.listen_address", section.listen_address, "the proxy's listen address"
    ):
        ip = parse_ip(section.listen_address)
        kind = never_a_host(ip) if ip is not None else None
        if ip is not None and kind is not None and not ip.is_unspecified:
            problems.append(
                error(
                    f"{name}.listen_address",
                    section.listen_address,
                    f"is {kind}: expected an address of the node to listen on, e.g. 127.0.0.1",
                )
            )
        elif ip is not None and not ip.is_loopback:
            problems.append(
                warning(
                    f"{name}.listen_address",
                    section.listen_address,
                    "a local proxy usually listens on loopback (127.0.0.1) so only the node uses it",
                )
            )
    check_port(problems, f"{name}.listen_port", section.listen_port)
    if section.listen_port in master_ports(profile):
        problems.append(
            error(
                f"{name}.listen_port",
                section.listen_port,
                "the proxy runs on the masters too, where kube-apiserver already binds this port "
                "on every address; choose another port, e.g. 8443",
            )
        )
    problems.extend(local_endpoint.check_hostname(profile, name))
    return problems


class LocalNginxStrategy(Strategy):
    key = "local-nginx"
    section = SECTION
    section_type = LocalNginx
    form_title = "Local nginx (on every node)"
    card = Card(
        "local nginx",
        "nginx",
        "No VIP and no L2 adjacency: an nginx stream proxy on 127.0.0.1:8443 on every node. "
        "Works on any cloud or VM network.",
        "Each node's proxy skips a master whose connects fail, within seconds; "
        "no shared address to move.",
        "Cloud or routed networks, no spare IP, or when every node should keep working on its own.",
    )
    packages = (NGINX,)
    install_methods = tuple(InstallMethod)
    loopback_single_node = True
    prepare_title = "the kube-nginx build"

    def check(self, profile: Profile) -> list[Problem]:
        return check(profile)

    def plan(self, profile: Profile) -> RenderPlan:
        return plan(profile)

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return local_endpoint.lab_section(LocalNginx, site)

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        prefix = profile.install.prefix.rstrip("/")
        return (
            PACKAGE_CONF,
            f"{prefix}/conf/kube-nginx.conf",
            f"{prefix}/sbin/kube-nginx",
            UNIT_PATH,
            *SESSION_CUTTER_PATHS,
            HOSTS_FILE,
        )

    def needs_prepare(self, profile: Profile) -> bool:
        """Install methods source and binary: kube-nginx is built (or read) once, first."""
        return profile.install.method in (InstallMethod.SOURCE, InstallMethod.BINARY)

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
        """The kube-nginx binary first on every node (``nginx_build`` beside it); a dry run that
        would have to build leaves the plan as it is."""
        if uninstall:  # uninstall removes <prefix>/sbin/kube-nginx: no bytes needed
            return with_binary(plan, profile, b"")
        binary = build_binary(profile, report, open_node, dry_run)
        return plan if binary is None else with_binary(plan, profile, binary.data)


STRATEGY = LocalNginxStrategy()


__all__ = [
    "NGINX",
    "PACKAGE_CONF",
    "PACKAGE_NGINX",
    "PID_FILE",
    "STRATEGY",
    "STREAM_MODULE",
    "UNIT",
    "UNIT_PATH",
    "layout",
]
