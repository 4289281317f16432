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

from typing import Any

from wizard.agent.nginx import upstream_lines
from wizard.agent.roster import Member, Roster
from wizard.packages import Package
from wizard.plan import RenderedFile, RenderPlan
from wizard.problems import Problem, error
from wizard.profile import Profile
from wizard.strategies import local_endpoint, node_agent, static_pod
from wizard.strategies.base import Card, Opener, Strategy, Table
from wizard.strategies.common import (
    CUTTER_UNIT,
    HOSTS_FILE,
    SESSION_CUTTER_PATHS,
    session_cutter_files,
)
from wizard.strategies.hooks import LabSite, Report
from wizard.strategies.local_endpoint import NodeLocal, check_listener, dial_address
from wizard.strategies.local_nginx.install import (
    FORM_ORDER,
    TABLE,
    Install,
    InstallMethod,
    check_install,
)
from wizard.strategies.local_nginx.layout import (
    BUILD_PANE,
    PACKAGE_CONF,
    PACKAGE_NGINX,
    PID_FILE,
    STREAM_MODULE,
    UNIT,
    UNIT_PATH,
    layout,
)
from wizard.strategies.static_pod import Balancer, RunAs, check_balancer
from wizard.templating import render_template

SECTION = "local_nginx"
AGENT_DIR = "kubeha-agent"  # beside the config: the upstream include's folder
FAIL_TIMEOUT_S = 10
NGINX = Package("nginx", ("nginx-light", "libnginx-mod-stream"), ("nginx", "nginx-mod-stream"))
POD = "nginx"  # its static pod: kubeha-nginx, <manifests_dir>/kubeha-nginx.yaml
POD_TEMPLATE = "local-nginx/kube-nginx.pod.yaml.j2"


LocalNginx = NodeLocal  # the ``[local_nginx]`` section: the node-local strategies' one type


def install_of(profile: Profile) -> Install:
    """The profile's ``[install]`` table, local-nginx's own."""
    return profile.table(TABLE, Install)


def balancer_of(profile: Profile) -> Balancer:
    """The profile's ``[balancer]`` table: a systemd unit or a static pod."""
    return profile.table(static_pod.TABLE, Balancer)


def nginx_command(profile: Profile) -> str:
    where = layout(profile)
    command = f"{where['binary']} -c {where['conf']}"
    return f"{command} -p {where['prefix']}/" if where["prefix"] else command


def check_argv(profile: Profile) -> tuple[str, ...]:
    where = layout(profile)
    argv = (where["binary"], "-t", "-q", "-c", "{file}")
    return (*argv, "-p", f"{where['prefix']}/") if where["prefix"] else argv


def upstream_include(profile: Profile) -> str:
    """The file of the upstream's servers that kubeha-agent rewrites, in a folder of its own
    beside the config (the only place the agent's unit may write)."""
    return f"{layout(profile)['conf'].rsplit('/', 1)[0]}/{AGENT_DIR}/upstream.conf"


def agent_parts(profile: Profile, ln: NodeLocal) -> tuple[RenderedFile, ...]:
    """With ``[agent] enabled``: the agent's files, then the upstream include it owns, seeded
    with the profile's masters exactly as the agent writes them (its first round changes
    nothing). The include comes before the config, whose check reads it."""
    if not node_agent.agent_of(profile).enabled:
        return ()
    where = layout(profile)
    params = f"max_fails={profile.health_check.fall} fail_timeout={FAIL_TIMEOUT_S}s"
    include = upstream_include(profile)
    hands = node_agent.Hands(
        "nginx",
        {
            "upstream_file": include,
            "config": where["conf"],
            "binary": where["binary"],
            "params": params,
        },
        writes=(include.rsplit("/", 1)[0],),
        balancer_unit=UNIT,
    )
    seed = Roster.seeded(Member(m.address, m.apiserver_port) for m in profile.masters)
    return (
        *node_agent.agent_files(profile, hands, ln.apiserver_hostname, ln.listen_port),
        RenderedFile(include, upstream_lines(seed, params), "wizard/agent/nginx.py", service=UNIT),
    )


def config(profile: Profile, with_agent: bool = False) -> str:
    """kube-nginx.conf; a static pod's loads the image's stream module when it names one; with
    the agent, the upstream's servers come from the include it owns."""
    balancer = balancer_of(profile)
    if balancer.static_pod:
        load, module = bool(balancer.stream_module), balancer.stream_module
    else:
        load, module = install_of(profile).method == InstallMethod.PACKAGE, STREAM_MODULE
    return render_template(
        "local-nginx/kube-nginx.conf.j2",
        profile=profile,
        section=STRATEGY.settings(profile),
        load_stream_module=load,
        stream_module=module,
        pid_file=PID_FILE,
        max_fails=profile.health_check.fall,
        fail_timeout=FAIL_TIMEOUT_S,
        upstream_include=upstream_include(profile) if with_agent else "",
    )


def pod_plan(profile: Profile, balancer: Balancer) -> RenderPlan:
    """kube-nginx as a static pod on the package layout's config, the cutter's unit beside it."""
    ln = STRATEGY.settings(profile)
    conf = RenderedFile(
        PACKAGE_CONF,
        config(profile),
        "local-nginx/kube-nginx.conf.j2",
        check=static_pod.image_check(
            balancer.image, PACKAGE_CONF, ("nginx", "-t", "-q", "-c", "{config}")
        ),
    )
    pod = static_pod.manifest_file(
        balancer,
        POD,
        POD_TEMPLATE,
        (conf,),
        profile=profile,
        config_path=PACKAGE_CONF,
        probe_host=dial_address(ln.listen_address),
        port=ln.listen_port,
    )
    files = (conf, pod, *session_cutter_files(profile))
    return local_endpoint.node_local_plan(
        profile, ln, files, (CUTTER_UNIT,), (), None, static_pods=(pod.path,)
    )


def plan(profile: Profile) -> RenderPlan:
    balancer = balancer_of(profile)
    if balancer.static_pod:
        return pod_plan(profile, balancer)
    where = layout(profile)
    package = install_of(profile).method == InstallMethod.PACKAGE
    ln = STRATEGY.settings(profile)
    agent = agent_parts(profile, ln)
    unit = render_template(
        "local-nginx/kube-nginx.service.j2",
        profile=profile,
        pid_file=PID_FILE,
        nginx_command=nginx_command(profile),
    )
    files = (
        *agent,
        RenderedFile(
            where["conf"],
            config(profile, with_agent=bool(agent)),
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
    packages = (NGINX,) if package else ()
    services = (UNIT, CUTTER_UNIT, *node_agent.services(profile))
    return local_endpoint.node_local_plan(profile, ln, files, services, packages, (UNIT, "SIGQUIT"))


def check_run_as(balancer: Balancer, profile: Profile) -> list[Problem]:
    """The ``[balancer]`` table; a static pod runs the image's nginx, so no kube-nginx build."""
    problems = check_balancer(balancer)
    method = install_of(profile).method
    if balancer.static_pod and method != InstallMethod.PACKAGE:
        problems.append(
            error(
                f"{static_pod.TABLE}.run_as",
                balancer.run_as,
                f"install.method '{method}' builds a kube-nginx for a systemd unit; a static pod "
                f"runs the image's nginx: expected install.method 'package' (the default) or "
                f"run_as '{RunAs.SYSTEMD}'",
            )
        )
    return problems


def check(profile: Profile) -> list[Problem]:
    """Its section's listener and API host name, then its ``[install]`` and ``[balancer]``
    tables."""
    problems = check_listener(profile, SECTION)
    problems.extend(check_install(install_of(profile), profile))
    problems.extend(check_run_as(balancer_of(profile), profile))
    port = STRATEGY.settings(profile).listen_port
    problems.extend(node_agent.check_agent(node_agent.agent_of(profile), profile, port))
    problems.extend(
        node_agent.check_with_static_pod(
            node_agent.agent_of(profile), balancer_of(profile).static_pod
        )
    )
    return problems


class LocalNginxStrategy(Strategy[NodeLocal]):
    key = "local-nginx"
    section = SECTION
    section_type = NodeLocal
    tables = (
        Table(TABLE, Install, "Install", FORM_ORDER, check_install),
        Table(static_pod.TABLE, Balancer, "Balancer", static_pod.NGINX_FORM_ORDER, check_run_as),
        node_agent.AGENT_TABLE,
    )
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
    loopback_single_node = True
    prepare_title = "the kube-nginx build"
    build_pane = BUILD_PANE

    def check(self, profile: Profile) -> list[Problem]:
        return check(profile)

    def plan(self, profile: Profile) -> RenderPlan:
        return plan(profile)

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return local_endpoint.lab_section(NodeLocal, site)

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        prefix = install_of(profile).prefix.rstrip("/")
        return (
            PACKAGE_CONF,
            f"{prefix}/conf/kube-nginx.conf",
            f"{prefix}/sbin/kube-nginx",
            UNIT_PATH,
            static_pod.manifest_path(balancer_of(profile), POD),
            *SESSION_CUTTER_PATHS,
            HOSTS_FILE,
            *node_agent.node_paths(profile),
            upstream_include(profile),
        )

    def needs_prepare(self, profile: Profile) -> bool:
        """Install methods source and binary: kube-nginx is built (or read) once, first."""
        if balancer_of(profile).static_pod:  # the image's nginx runs: nothing to build
            return False
        return install_of(profile).method in (InstallMethod.SOURCE, InstallMethod.BINARY)

    def build_source(self, profile: Profile) -> tuple[str, str]:
        """Its build pane: the build host of a source build, the binary's path for binary."""
        install = install_of(profile)
        if install.method == InstallMethod.SOURCE:
            return ("build", install.build_host)
        return ("binary", install.binary_path or "")

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
        # imported here: the build (and the renderer it uses) stays out of the wizard's start
        from wizard.strategies.local_nginx.nginx_build.phase import build_binary, with_binary

        if uninstall:  # uninstall removes <prefix>/sbin/kube-nginx: no bytes needed
            return with_binary(plan, profile, b"")
        binary = build_binary(profile, report, open_node, dry_run)
        return plan if binary is None else with_binary(plan, profile, binary.data)


STRATEGY = LocalNginxStrategy()


__all__ = [
    "BUILD_PANE",
    "NGINX",
    "PACKAGE_CONF",
    "PACKAGE_NGINX",
    "PID_FILE",
    "STRATEGY",
    "STREAM_MODULE",
    "UNIT",
    "UNIT_PATH",
    "Install",
    "InstallMethod",
    "LocalNginx",
    "install_of",
    "layout",
]
