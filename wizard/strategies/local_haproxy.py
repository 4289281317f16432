"""local-haproxy: haproxy on every node, listening on 127.0.0.1:8443 by default, with every
master as a server under an active /readyz check over TLS (kubespray's other per-node proxy).
Clients dial ``apiserver.cluster.local:8443``, resolved to the proxy by kubeha's /etc/hosts line
on every node, as with local-nginx (``wizard.strategies.local_endpoint``).

How a dead master is left (measured on the lab: bench/local_haproxy_variants.py):

* new connections: a master that fails ``fall`` checks is marked down; until then a connect to
  it that gets no answer in 0.5 s is retried on another master (``option redispatch 1``), and
  counts as a failed check at once, the next one coming after ``fastinter`` (``observe
  layer4``): a crashed apiserver that kubelet starts again is down before it answers errors;
* open sessions to a master whose host vanished: the session cutter beside haproxy (as with
  local-nginx; the same unit and files, so a take-over between the two keeps it running) finds
  it silent in two probes of 0.25 s and destroys its sockets (``ss -K``): haproxy closes the
  client's side and the client re-opens its watch on a live master, about 1.2 s after the cut.
  The kernel alone (TCP keepalive, counted in whole seconds, and a TCP user timeout of
  ``fall * interval`` on every server line) takes 2 s: it stays as the net under the cutter,
  which cuts nothing while every master fails its probe. Not ``on-marked-down
  shutdown-sessions``: it also kills the requests still connecting to that master when it is
  marked down, which haproxy would otherwise retry (1 to 4 failed requests per cut, measured).

It runs as its own unit with its own config, pid file and sockets, beside any haproxy the node
already runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wizard.packages import same_name
from wizard.plan import RenderedFile, RenderPlan
from wizard.problems import Problem
from wizard.profile import Profile
from wizard.strategies import local_endpoint, node_agent, static_pod
from wizard.strategies.base import Card, Strategy, Table
from wizard.strategies.common import (
    CUTTER_UNIT,
    HAPROXY_FASTINTER_MS,
    HAPROXY_OBSERVE,
    HOSTS_FILE,
    SESSION_CUTTER_PATHS,
    session_cutter_files,
    user_timeout_ms,
)
from wizard.strategies.hooks import LabSite, Runs, VerifyExtras
from wizard.strategies.local_endpoint import NodeLocal, check_listener, dial_address
from wizard.strategies.static_pod import Balancer, check_balancer
from wizard.templating import render_template

SECTION = "local_haproxy"
UNIT = "kube-haproxy.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
BINARY = "/usr/sbin/haproxy"
CONF = "/etc/kube-haproxy/haproxy.cfg"
RUNTIME_DIR = "kube-haproxy"  # /run/kube-haproxy, the unit's RuntimeDirectory
PID_FILE = f"/run/{RUNTIME_DIR}/haproxy.pid"
MASTER_SOCKET = f"/run/{RUNTIME_DIR}/master.sock"
ADMIN_SOCKET = f"/run/{RUNTIME_DIR}/admin.sock"
# haproxy's stats page (CSV at "/;csv") on a socket of its own: `kubeha verify` reads there
# whether every master fails its check (haproxy then runs on the unchecked backups).
STATS_SOCKET = f"/run/{RUNTIME_DIR}/stats.sock"
HAPROXY = same_name("haproxy")
POD = "haproxy"  # its static pod: kubeha-haproxy, <manifests_dir>/kubeha-haproxy.yaml
POD_TEMPLATE = "local-haproxy/kube-haproxy.pod.yaml.j2"


LocalHaproxy = NodeLocal  # the ``[local_haproxy]`` section: the node-local strategies' one type


@dataclass(frozen=True)
class Tuning:
    """The failover settings that are not the profile's: the defaults are what the lab's
    drills chose (docs/BENCHMARKS.md); bench/local_haproxy_variants.py measures the others."""

    connect_timeout_ms: int = 500
    fastinter_ms: int = HAPROXY_FASTINTER_MS
    downinter_ms: int = 1000
    tcp_keepalive: bool = True  # keepalive probes and a TCP user timeout on server sessions
    shutdown_sessions: bool = False  # on-marked-down shutdown-sessions
    observe: str = HAPROXY_OBSERVE  # "" for none; bench/local_haproxy_variants.py tries others
    session_cutter: bool = True  # kubeha-session-cutter beside haproxy


TUNING = Tuning()


def server_params(profile: Profile, tuning: Tuning) -> str:
    """Every server's options, written out on each server line: haproxy 2.6 silently ignores
    ``tcp-ut`` on a default-server line (seen with strace: no TCP_USER_TIMEOUT set)."""
    hc = profile.health_check
    check = "check check-ssl verify none"
    if hc.auth == "client-cert":
        check += f" crt {hc.client_cert}"  # cert and key in one PEM (or its .key beside it)
    params = [
        check,
        f"inter {round(hc.interval * 1000)}ms "
        f"fastinter {min(tuning.fastinter_ms, round(hc.interval * 1000))}ms "
        f"downinter {tuning.downinter_ms}ms fall {hc.fall} rise {hc.rise}",
    ]
    if tuning.tcp_keepalive:
        params.append(f"tcp-ut {user_timeout_ms(profile)}ms")
    if tuning.observe:
        params.append(f"observe {tuning.observe}")
    if tuning.shutdown_sessions:
        params.append("on-marked-down shutdown-sessions")
    return " ".join(params)


def backup_params(profile: Profile, tuning: Tuning) -> str:
    """The unchecked backup servers' options: the user timeout of the checked ones, no check."""
    params = ["backup"]
    if tuning.tcp_keepalive:
        params.append(f"tcp-ut {user_timeout_ms(profile)}ms")
    return " ".join(params)


def spares(profile: Profile) -> int:
    """Spare server slots for the node agent (0 without it): one per master, so that every
    master can be replaced at once."""
    return len(profile.masters) if node_agent.agent_of(profile).enabled else 0


def config(profile: Profile, tuning: Tuning | None = None) -> str:
    tuning = tuning or TUNING
    hc = profile.health_check
    lh = profile.table(SECTION, NodeLocal)
    return render_template(
        "local-haproxy/haproxy.cfg.j2",
        profile=profile,
        hc=hc,
        listen=lh.listen_address,
        port=lh.listen_port,
        admin_socket=ADMIN_SOCKET,
        stats_socket=STATS_SOCKET,
        connect_timeout_ms=tuning.connect_timeout_ms,
        check_timeout_ms=round(hc.timeout * 1000),
        tcp_keepalive=tuning.tcp_keepalive,
        keepalive_s=max(1, math.ceil(hc.interval)),  # the kernel counts keepalive in seconds
        server_params=server_params(profile, tuning),
        backup_params=backup_params(profile, tuning),
        spares=spares(profile),
    )


def balancer_of(profile: Profile) -> Balancer:
    """The profile's ``[balancer]`` table: a systemd unit or a static pod."""
    return profile.table(static_pod.TABLE, Balancer)


def config_file(profile: Profile, tuning: Tuning, balancer: Balancer) -> RenderedFile:
    """haproxy.cfg, checked by the node's haproxy (a unit's) or the image's (a static pod's)."""
    check: tuple[str, ...] = (BINARY, "-c", "-q", "-f", "{file}")
    if balancer.static_pod:
        check = static_pod.image_check(
            balancer.image, CONF, ("haproxy", "-c", "-q", "-f", "{config}"), cert_mounts(profile)
        )
    return RenderedFile(
        CONF,
        config(profile, tuning),
        "local-haproxy/haproxy.cfg.j2",
        check=check,
        service=None if balancer.static_pod else UNIT,
    )


def cert_mounts(profile: Profile) -> tuple[str, ...]:
    """The host files the config names beside itself (a client certificate for the checks)."""
    hc = profile.health_check
    return (hc.client_cert,) if hc.auth == "client-cert" and hc.client_cert else ()


def pod_file(profile: Profile, balancer: Balancer, conf: RenderedFile) -> RenderedFile:
    lh = profile.table(SECTION, NodeLocal)
    return static_pod.manifest_file(
        balancer,
        POD,
        POD_TEMPLATE,
        (conf,),
        profile=profile,
        config_path=CONF,
        runtime_dir=f"/run/{RUNTIME_DIR}",
        probe_host=dial_address(lh.listen_address),
        port=lh.listen_port,
        extra_mounts=cert_mounts(profile),
    )


def plan(profile: Profile, tuning: Tuning | None = None) -> RenderPlan:
    tuning = tuning or TUNING
    lh = profile.table(SECTION, NodeLocal)
    balancer = balancer_of(profile)
    conf = config_file(profile, tuning, balancer)
    if balancer.static_pod:  # kubelet runs it: no unit, no package, no drain by signal
        pod = pod_file(profile, balancer, conf)
        pod_files: tuple[RenderedFile, ...] = (conf, pod)
        pod_services: tuple[str, ...] = ()
        if tuning.session_cutter:
            pod_files = (*pod_files, *session_cutter_files(profile))
            pod_services = (CUTTER_UNIT,)
        return local_endpoint.node_local_plan(
            profile,
            lh,
            pod_files,
            pod_services,
            (),
            None,
            static_pods=(pod.path,),
            cleanup=(("rm", "-rf", f"/run/{RUNTIME_DIR}"),),
        )
    unit = render_template(
        "local-haproxy/kube-haproxy.service.j2",
        profile=profile,
        binary=BINARY,
        config_path=CONF,
        pid_file=PID_FILE,
        runtime_dir=RUNTIME_DIR,
        master_socket=MASTER_SOCKET,
    )
    files: tuple[RenderedFile, ...] = (
        conf,
        RenderedFile(
            UNIT_PATH,
            unit,
            "local-haproxy/kube-haproxy.service.j2",
            service=UNIT,
            restart=True,
        ),
    )
    services: tuple[str, ...] = (UNIT,)
    if tuning.session_cutter:
        files = (*files, *session_cutter_files(profile))
        services = (UNIT, CUTTER_UNIT)
    hands = node_agent.Hands(
        "haproxy",
        {
            "admin_socket": ADMIN_SOCKET,
            "backend": "kube-apiserver",
            "server_params": server_params(profile, tuning),
            "backup_params": backup_params(profile, tuning),
        },
        balancer_unit=UNIT,
    )
    # the agent's pyz first: its check is the node's python preflight
    files = (
        *node_agent.agent_files(profile, hands, lh.apiserver_hostname, lh.listen_port),
        *files,
    )
    services = (*services, *node_agent.services(profile))
    return local_endpoint.node_local_plan(
        profile, lh, files, services, (HAPROXY,), (UNIT, "SIGUSR1")
    )


def check(profile: Profile) -> list[Problem]:
    return [*check_listener(profile, SECTION), *check_balancer(balancer_of(profile))]


class LocalHaproxyStrategy(Strategy[NodeLocal]):
    key = "local-haproxy"
    section = SECTION
    section_type = NodeLocal
    form_title = "Local haproxy (on every node)"
    card = Card(
        "local haproxy",
        "haproxy",
        "No VIP and no L2 adjacency: haproxy on 127.0.0.1:8443 on every node, checking every "
        "master's /readyz. Works on any cloud or VM network.",
        "Each node's haproxy marks a master down after failed checks and retries a connect "
        "elsewhere after 0.5 s; the session cutter closes sessions to a vanished master "
        "within about a second.",
        "As local nginx, when you want haproxy's own active health checks on every node.",
    )
    tables = (
        Table(
            static_pod.TABLE,
            Balancer,
            "Balancer",
            static_pod.FORM_ORDER,
            lambda table, profile: check_balancer(table),
        ),
        node_agent.AGENT_TABLE,
    )
    packages = (HAPROXY,)
    loopback_single_node = True

    def check(self, profile: Profile) -> list[Problem]:
        port = self.settings(profile).listen_port
        agent = node_agent.agent_of(profile)
        return [
            *check(profile),
            *node_agent.check_agent(agent, profile, port),
            *node_agent.check_with_static_pod(agent, balancer_of(profile).static_pod),
        ]

    def plan(self, profile: Profile) -> RenderPlan:
        return plan(profile)

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return local_endpoint.lab_section(NodeLocal, site)

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        pod = static_pod.manifest_path(balancer_of(profile), POD)
        return (
            CONF,
            UNIT_PATH,
            pod,
            *SESSION_CUTTER_PATHS,
            HOSTS_FILE,
            *node_agent.node_paths(profile),
        )

    def verify_node(self, profile: Profile, name: str, node: Runs) -> VerifyExtras:
        """Whether every master fails haproxy's check on this node (it runs on the backups)."""
        result = node.run(
            ["curl", "-s", "--max-time", "3", "--unix-socket", STATS_SOCKET, "http://x/;csv"],
            timeout=15,
        )
        return VerifyExtras(all_failing=all_failing_from_stats(result.stdout) if result.ok else "")


def all_failing_from_stats(csv: str) -> str:
    """haproxy's stats CSV: a word when every checked server of the backend is down, else ""."""
    lines = csv.splitlines()
    if not lines or not lines[0].startswith("# "):
        return ""
    header = lines[0][2:].split(",")
    try:
        px, sv, status, bck = (header.index(k) for k in ("pxname", "svname", "status", "bck"))
    except ValueError:
        return ""
    checked = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) <= max(px, sv, status, bck) or cells[px] != "kube-apiserver":
            continue
        if cells[sv] in ("FRONTEND", "BACKEND") or cells[bck] != "0":
            continue
        if cells[sv].startswith("kubeha-spare") and cells[status].startswith("MAINT"):
            continue  # a free spare slot of the node agent: no master
        checked.append(cells[status])
    if checked and all(s.startswith("DOWN") for s in checked):
        return (
            f"every master ({len(checked)}) fails haproxy's check: it forwards to all of them "
            "unchecked (the backup servers)"
        )
    return ""


STRATEGY = LocalHaproxyStrategy()
