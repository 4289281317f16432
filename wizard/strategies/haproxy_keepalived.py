"""haproxy-keepalived: a VRRP virtual IP held by one of the load-balancer nodes (the masters by
default, or dedicated LB nodes), in front of haproxy with /readyz health checks (the kubeadm HA
guide's design, with the fixes its users needed: redispatch, shutdown-sessions, long timeouts,
one unicast peer per line)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from wizard.field_checks import (
    INTERFACE_RE,
    check_ip,
    check_port,
    check_vip,
    master_ports,
    node_groups,
)
from wizard.netaddr import any_address, host_port, https_url, loopback, network_of, parse_ip
from wizard.packages import CURL, Package, same_name
from wizard.paths import TEMPLATES_DIR
from wizard.plan import InPlaceRule, NodePlan, RenderedFile, RenderPlan
from wizard.problems import Problem, error, warning
from wizard.profile import Master, Node, Profile
from wizard.strategies import node_agent, static_pod
from wizard.strategies.base import Card, Strategy, Table
from wizard.strategies.common import (
    CUTTER_UNIT,
    HAPROXY_OBSERVE,
    SESSION_CUTTER_PATHS,
    haproxy_fastinter_ms,
    session_cutter_files,
    snippets,
    user_timeout_ms,
)
from wizard.strategies.fields import check_choice, described, field_info
from wizard.strategies.hooks import LabSite, Report, Runs, VerifyExtras
from wizard.strategies.static_pod import Balancer, check_balancer
from wizard.templating import render_template

SECTION = "haproxy_keepalived"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
KEEPALIVED_TEMPLATE = "haproxy-keepalived/keepalived.conf.j2"
CHECK_SCRIPT = "/etc/keepalived/check_apiserver.sh"
HAPROXY_UNIT = "haproxy.service"
KEEPALIVED_UNIT = "keepalived.service"
TOP_PRIORITY = 200
FOLLOWER_UNIT = "kubeha-vip-follower.service"
FOLLOWER_PATH = "/usr/local/lib/kubeha/kubeha-vip-follower"
FOLLOWER_SOURCE = "haproxy-keepalived/kubeha-vip-follower.sh"  # plain bash, not a template
HAPROXY = same_name("haproxy")
KEEPALIVED = same_name("keepalived")
MAX_LB_NODES = 100
VIP_SETTLE_S = 12  # after an apply, how long the VRRP election may take to leave one holder
# haproxy's runtime API, for kubeha-agent only (root's, in /run: the distro's /run/haproxy is
# not on every distro)
ADMIN_SOCKET = "/run/kubeha-haproxy-admin.sock"


class RunOn(StrEnum):
    """Which nodes carry haproxy and keepalived."""

    MASTERS = "masters"
    LB_NODES = "lb-nodes"


@dataclass(frozen=True)
class HaproxyKeepalived:
    """The ``[haproxy_keepalived]`` section."""

    vip: str = described(
        "", "Virtual IP", "a free address in the LB nodes' subnet", placeholder="e.g. 10.0.0.100"
    )
    prefix_length: int = described(24, "Prefix length", "the VIP's subnet size, e.g. 24")
    interface: str = described("eth0", "Interface", "the NIC that carries the nodes' addresses")
    virtual_router_id: int = described(51, "Router id", "1-255, unique on this L2 segment")
    frontend_port: int = described(
        8443, "Frontend port", "haproxy listens here; the apiserver keeps 6443"
    )
    unicast: bool = described(True, "Unicast VRRP", "send VRRP to each peer; no multicast needed")
    run_on: str = described(
        RunOn.MASTERS.value,
        "Run on",
        "the masters, or dedicated LB nodes",
        choices=tuple(RunOn),
    )
    # Below 1 s or not whole seconds: VRRP version 3 (vrrp_version). 0.3: a cut holder's clients
    # back within 2 s (docs/BENCHMARKS.md); 1 keeps a group kubeha 0.2 installed (VRRP 2).
    advert_int: float = described(0.3, "Advert interval", "0.3: VIP moves in ~1 s; 1: ~3 s")


def vrrp_version(section: HaproxyKeepalived) -> int:
    """VRRP version 3 (RFC 5798) for an IPv6 VIP (version 2 carries only IPv4) or an
    ``advert_int`` that is not whole seconds (version 2 counts adverts in seconds; keepalived
    takes centiseconds in version 3): a backup takes the VIP after 3 adverts missed, about 1 s
    at the default 0.3 s. Version 2 for whole seconds: what kubeha 0.2 installed (1 s).
    Nodes of one group on different versions ignore each other's adverts and each holds the
    VIP, so a change of version is refused on a node that runs the other one (facts)."""
    vip = parse_ip(section.vip)
    whole = float(section.advert_int).is_integer()
    return 3 if (vip is not None and vip.version == 6) or not whole else 2


def advert_int_text(section: HaproxyKeepalived) -> str:
    """``advert_int`` as keepalived reads it: "1", "0.5"."""
    return f"{float(section.advert_int):g}"


# haproxy's connect limit, also its checks': a vanished master is given up on in half a second
# and the connection retried on another one (as local-haproxy's).
CONNECT_TIMEOUT_MS = 500


def lb_hosts(profile: Profile) -> tuple[Master | Node, ...]:
    """The nodes that run haproxy + keepalived: the LB nodes or the masters."""
    if profile.table(SECTION, HaproxyKeepalived).run_on == RunOn.LB_NODES:
        return profile.lb_nodes
    return profile.masters


def vip_follower_files(profile: Profile) -> tuple[RenderedFile, RenderedFile]:
    """Every node's kubeha-vip-follower: closes the node's connections to the VIP when the VIP
    changes holder, so a watch on a vanished holder reconnects at once (see the script)."""
    hk: HaproxyKeepalived = profile.table(SECTION, HaproxyKeepalived)
    unit = render_template(
        "haproxy-keepalived/kubeha-vip-follower.service.j2",
        profile=profile,
        hk=hk,
        vip_hostport=host_port(hk.vip, hk.frontend_port),
        follower_path=FOLLOWER_PATH,
    )
    return (
        RenderedFile(
            FOLLOWER_PATH,
            (TEMPLATES_DIR / FOLLOWER_SOURCE).read_text(),
            FOLLOWER_SOURCE,
            mode=0o755,
            check=("bash", "-n", "{file}"),
            service=FOLLOWER_UNIT,
            restart=True,
        ),
        RenderedFile(
            f"/etc/systemd/system/{FOLLOWER_UNIT}",
            unit,
            "haproxy-keepalived/kubeha-vip-follower.service.j2",
            service=FOLLOWER_UNIT,
            restart=True,
        ),
    )


def balancer_of(profile: Profile) -> Balancer:
    """The profile's ``[balancer]`` table: systemd units or static pods."""
    return profile.table(static_pod.TABLE, Balancer)


def cert_mounts(profile: Profile) -> tuple[str, ...]:
    """The host files haproxy's config names beside itself (a client certificate)."""
    hc = profile.health_check
    return (hc.client_cert,) if hc.auth == "client-cert" and hc.client_cert else ()


def pod_files(
    profile: Profile, files: tuple[RenderedFile, ...], probe_host: str
) -> tuple[RenderedFile, ...]:
    """haproxy.cfg, the check script and keepalived.conf of a carrier as two static pods
    (the kubeadm HA guide's): each config checked by its image's program, no unit's."""
    balancer = balancer_of(profile)
    hk: HaproxyKeepalived = profile.table(SECTION, HaproxyKeepalived)
    haproxy_cfg, script, keepalived_conf = files
    haproxy_cfg = replace(
        haproxy_cfg,
        service=None,
        check=static_pod.image_check(
            balancer.image,
            HAPROXY_CFG,
            ("haproxy", "-c", "-q", "-f", "{config}"),
            cert_mounts(profile),
        ),
    )
    script = replace(script, service=None)
    keepalived_conf = replace(
        keepalived_conf,
        service=None,
        check=static_pod.image_check(
            balancer.keepalived_image,
            KEEPALIVED_CONF,
            ("keepalived", "--config-test", "--use-file={config}"),
            (CHECK_SCRIPT,),
        ),
    )
    haproxy_pod = static_pod.manifest_file(
        balancer,
        "haproxy",
        "haproxy-keepalived/haproxy.pod.yaml.j2",
        (haproxy_cfg,),
        profile=profile,
        config_path=HAPROXY_CFG,
        probe_host=probe_host,
        port=hk.frontend_port,
        extra_mounts=cert_mounts(profile),
    )
    keepalived_pod = static_pod.manifest_file(
        replace(balancer, image=balancer.keepalived_image),
        "keepalived",
        "haproxy-keepalived/keepalived.pod.yaml.j2",
        (script, keepalived_conf),
        profile=profile,
        config_path=KEEPALIVED_CONF,
        check_script=CHECK_SCRIPT,
    )
    return (haproxy_cfg, script, keepalived_conf, haproxy_pod, keepalived_pod)


def check_params(profile: Profile) -> str:
    """The checks' options: the config's ``default-server`` line."""
    hc = profile.health_check
    crt = f" crt {hc.client_cert}" if hc.auth == "client-cert" else ""
    return (
        f"check check-ssl verify none{crt} inter {round(hc.interval * 1000)}ms "
        f"fastinter {haproxy_fastinter_ms(profile)}ms fall {hc.fall} rise {hc.rise}"
    )


def line_params(profile: Profile) -> str:
    """The options a checked server line carries itself: haproxy 2.6 ignores ``tcp-ut`` on a
    ``default-server`` line, and ``observe`` there would reach the unchecked backups too."""
    return f"tcp-ut {user_timeout_ms(profile)}ms observe {HAPROXY_OBSERVE}"


def server_params(profile: Profile) -> str:
    """Every option of a checked server line, as the agent gives a master it adds (haproxy
    applies no ``default-server`` line to a server added at runtime)."""
    return f"{check_params(profile)} {line_params(profile)}"


def backup_params(profile: Profile) -> str:
    return f"backup no-check tcp-ut {user_timeout_ms(profile)}ms"


def agent_files(profile: Profile) -> tuple[RenderedFile, ...]:
    """A carrier's agent (none when ``[agent]`` is off): it reaches the cluster through the
    VIP, which the apiservers' certificates name for every client already."""
    hk: HaproxyKeepalived = profile.table(SECTION, HaproxyKeepalived)
    hands = node_agent.Hands(
        "haproxy",
        {
            "admin_socket": ADMIN_SOCKET,
            "backend": "kube-apiserver",
            "server_params": server_params(profile),
            "backup_params": backup_params(profile),
        },
        balancer_unit=HAPROXY_UNIT,
    )
    return node_agent.agent_files(profile, hands, hk.vip, hk.frontend_port)


def plan(profile: Profile) -> RenderPlan:
    hk: HaproxyKeepalived = profile.table(SECTION, HaproxyKeepalived)
    as_pods = balancer_of(profile).static_pod
    hc = profile.health_check
    vip = parse_ip(hk.vip)
    assert vip is not None  # validated
    v6 = vip.version == 6
    carriers = lb_hosts(profile)
    agent = agent_files(profile)
    haproxy_cfg = render_template(
        "haproxy-keepalived/haproxy.cfg.j2",
        profile=profile,
        hk=hk,
        hc=hc,
        bind_address=any_address(6) if v6 else "*",
        bind_v4v6=v6,
        check_params=check_params(profile),
        line_params=line_params(profile),
        check_timeout_ms=round(hc.timeout * 1000),
        connect_timeout_ms=CONNECT_TIMEOUT_MS,
        keepalive_s=max(1, math.ceil(hc.interval)),  # the kernel counts keepalive in seconds
        user_timeout_ms=user_timeout_ms(profile),
        # the agent's runtime API and one spare slot per master (local-haproxy's), with it only
        admin_socket=ADMIN_SOCKET if agent else "",
        spares=len(profile.masters) if agent else 0,
        server_params=server_params(profile),
        backup_params=backup_params(profile),
    )
    verify_url = https_url(hk.vip, hk.frontend_port, hc.path)
    nodes: list[NodePlan] = []
    lb_names = [n.name for n in carriers]
    follower = vip_follower_files(profile)
    for node in profile.all_nodes():
        if node.name not in lb_names:
            nodes.append(
                NodePlan(
                    node=node.name,
                    role=profile.role_of(node.name),
                    address=node.address,
                    files=follower,
                    services=(FOLLOWER_UNIT,),
                    packages=(),  # ip and ss: iproute2, on every systemd node
                    verify_url=verify_url,
                )
            )
            continue
        index = lb_names.index(node.name)
        peers = [n for n in carriers if n.name != node.name]
        check_script = render_template(
            "haproxy-keepalived/check_apiserver.sh.j2",
            profile=profile,
            node=node,
            hk=hk,
            hc=hc,
            local_check_host=loopback(vip.version),
            curl_max_time=max(1, math.ceil(hc.timeout)),
        )
        keepalived_conf = render_template(
            KEEPALIVED_TEMPLATE,
            profile=profile,
            node=node,
            hk=hk,
            hc=hc,
            peers=peers,
            priority=TOP_PRIORITY - index,
            vrrp_version=vrrp_version(hk),
            advert_int=advert_int_text(hk),
            check_script=CHECK_SCRIPT,
            script_interval=max(1, math.ceil(hc.interval)),
            script_timeout=max(1, math.ceil(hc.timeout)) + 1,
        )
        balancer_files: tuple[RenderedFile, ...] = (
            RenderedFile(
                HAPROXY_CFG,
                haproxy_cfg,
                "haproxy-keepalived/haproxy.cfg.j2",
                check=("haproxy", "-c", "-q", "-f", "{file}"),
                service=HAPROXY_UNIT,
            ),
            RenderedFile(
                CHECK_SCRIPT,
                check_script,
                "haproxy-keepalived/check_apiserver.sh.j2",
                mode=0o700,
                check=("sh", "-n", "{file}"),
                service=KEEPALIVED_UNIT,
            ),
            RenderedFile(
                KEEPALIVED_CONF,
                keepalived_conf,
                KEEPALIVED_TEMPLATE,
                mode=0o640,
                check=("keepalived", "--config-test", "--use-file={file}"),
                service=KEEPALIVED_UNIT,
            ),
        )
        units: tuple[str, ...] = (HAPROXY_UNIT, KEEPALIVED_UNIT)
        packages: tuple[Package, ...] = (HAPROXY, KEEPALIVED, CURL)
        pods: tuple[str, ...] = ()
        if as_pods:  # kubelet runs them; the cutter and the follower stay units
            balancer_files = pod_files(profile, balancer_files, loopback(vip.version))
            units, packages = (), (CURL,)
            pods = tuple(f.path for f in balancer_files[3:])
        nodes.append(
            NodePlan(
                node=node.name,
                role=profile.role_of(node.name),
                address=node.address,
                # the agent's pyz first: its check is the node's python preflight
                files=(*agent, *balancer_files, *session_cutter_files(profile), *follower),
                services=(*units, CUTTER_UNIT, FOLLOWER_UNIT, *node_agent.services(profile)),
                packages=packages,
                verify_url=verify_url,
                ports=(("*", hk.frontend_port),),
                static_pods=pods,
                in_place_rules=(vrrp_version_rule(balancer_files),),
            )
        )
    extra, server_url = snippets(profile, hk.vip, hk.frontend_port, (hk.vip,))
    return RenderPlan(profile=profile, nodes=tuple(nodes), snippets=extra, server_url=server_url)


def vrrp_version_rule(balancer_files: tuple[RenderedFile, ...]) -> InPlaceRule:
    """keepalived's VRRP version is not changed on a node that runs the other one: while the
    apply goes from node to node, nodes on different versions ignore each other's adverts and
    each takes the VIP (two holders answering ARP for it)."""
    conf = next(f.path for f in balancer_files if f.template == KEEPALIVED_TEMPLATE)
    return InPlaceRule(
        conf,
        r"^\s*version\s+(\d+)\s*$",
        "2",
        "haproxy_keepalived VRRP version (3: an IPv6 VIP or advert_int not whole seconds)",
        "while the apply goes from node to node, nodes on different VRRP versions ignore each "
        "other's adverts and each takes the VIP; keep the group's version with advert_int in "
        "[haproxy_keepalived] (VRRP 2: whole seconds, e.g. advert_int = 1, what kubeha 0.2 "
        "installed; VRRP 3: below 1 s, e.g. 0.3, the default), or run `kubeha uninstall` on "
        "every node of the group first (the VIP is gone until the apply)",
    )


def check_advert_int(problems: list[Problem], section: HaproxyKeepalived) -> None:
    """Whole seconds 1-255 (VRRP version 2); 0.01-40.95 s in centiseconds (version 3: an IPv6
    VIP, or adverts below 1 s or not whole)."""
    value = section.advert_int
    field = "haproxy_keepalived.advert_int"
    if not math.isfinite(value):
        problems.append(error(field, value, "expected a number of seconds, e.g. 1 or 0.3"))
        return
    if vrrp_version(section) == 2:
        if not 1 <= value <= 255:
            problems.append(error(field, value, "expected 1 to 255 seconds"))
        return
    centiseconds = round(value * 100)
    if not 1 <= centiseconds <= 4095 or abs(value * 100 - centiseconds) > 1e-6:
        problems.append(
            error(
                field,
                value,
                "expected 0.01 to 40.95 seconds in hundredths (VRRP version 3: an IPv6 VIP, or "
                "adverts below 1 s or not whole seconds)",
            )
        )


def check(profile: Profile) -> list[Problem]:
    section: HaproxyKeepalived = profile.table(SECTION, HaproxyKeepalived)
    problems: list[Problem] = []
    run_on = field_info(HaproxyKeepalived, "run_on")
    known_run_on = check_choice(problems, "haproxy_keepalived.run_on", section.run_on, run_on)
    if known_run_on and section.run_on == RunOn.LB_NODES and not profile.lb_nodes:
        problems.append(
            error(
                "haproxy_keepalived.run_on",
                section.run_on,
                "expected at least one [[lb_nodes]] entry",
            )
        )
    carriers = lb_hosts(profile) if known_run_on else ()
    if len(carriers) == 1:
        problems.append(
            warning(
                "haproxy_keepalived.run_on",
                section.run_on,
                "a single load-balancer node has nowhere to fail over to; use at least two",
            )
        )
    if len(carriers) > MAX_LB_NODES:
        problems.append(
            error(
                "haproxy_keepalived.run_on",
                len(carriers),
                f"expected at most {MAX_LB_NODES} load-balancer nodes",
            )
        )
    if not 1 <= section.virtual_router_id <= 255:
        problems.append(
            error(
                "haproxy_keepalived.virtual_router_id",
                section.virtual_router_id,
                "expected 1 to 255",
            )
        )
    check_advert_int(problems, section)
    if not INTERFACE_RE.fullmatch(section.interface) or section.interface in {".", ".."}:
        problems.append(
            error(
                "haproxy_keepalived.interface",
                section.interface,
                "expected a network interface name: letters, digits, '_', '.', '-', ':', at most 15",
            )
        )
    check_port(problems, "haproxy_keepalived.frontend_port", section.frontend_port)
    if section.run_on == RunOn.MASTERS and section.frontend_port in master_ports(profile):
        problems.append(
            error(
                "haproxy_keepalived.frontend_port",
                section.frontend_port,
                "haproxy runs on the masters, where kube-apiserver already binds this port; "
                "choose another port, e.g. 8443",
            )
        )
    _check_vip(profile, section, carriers, problems)
    problems.extend(check_balancer(balancer_of(profile), keepalived=True))
    agent = node_agent.agent_of(profile)
    problems.extend(node_agent.check_agent(agent, profile, section.frontend_port))
    problems.extend(node_agent.check_with_static_pod(agent, balancer_of(profile).static_pod))
    return problems


def _check_vip(
    profile: Profile,
    section: HaproxyKeepalived,
    carriers: tuple[Master | Node, ...],
    problems: list[Problem],
) -> None:
    vip = parse_ip(section.vip)
    if vip is None:
        problems.append(
            error(
                "haproxy_keepalived.vip",
                section.vip,
                "expected the virtual IP address, e.g. 10.0.0.100",
            )
        )
        return
    check_vip(problems, "haproxy_keepalived.vip", section.vip, vip)
    max_prefix = 32 if vip.version == 4 else 128
    if not 1 <= section.prefix_length <= max_prefix:
        problems.append(
            error(
                "haproxy_keepalived.prefix_length",
                section.prefix_length,
                f"expected 1 to {max_prefix}",
            )
        )
        return
    network = network_of(section.vip, section.prefix_length)
    if (
        vip in (network.network_address, network.broadcast_address)
        and max_prefix - section.prefix_length > 1
    ):
        problems.append(
            error(
                "haproxy_keepalived.vip",
                section.vip,
                f"is the network or broadcast address of {network}",
            )
        )
    for group, index, node in node_groups(profile):
        node_ip = parse_ip(node.address)
        if node_ip == vip:
            problems.append(
                error(
                    "haproxy_keepalived.vip",
                    section.vip,
                    f"expected a free address: it is {group}[{index}].address",
                )
            )
    group = "masters" if section.run_on == RunOn.MASTERS else "lb_nodes"
    for index, node in enumerate(carriers):  # the group itself, in its order
        node_ip = parse_ip(node.address)
        if node_ip is None:
            check_ip(
                problems, f"{group}[{index}].address", node.address, "keepalived peers need IPs"
            )
        elif node_ip.version != vip.version or node_ip not in network:
            problems.append(
                error(
                    "haproxy_keepalived.vip",
                    f"{section.vip}/{section.prefix_length}",
                    f"expected in the same subnet as the load-balancer nodes ({node.name} is {node.address})",
                )
            )


def holds_vip(node: Runs, vip: str) -> bool:
    """True when ``vip`` is one of the node's addresses now."""
    addresses = node.run(["ip", "-o", "addr", "show"], timeout=15).stdout
    want = parse_ip(vip)
    return any(parse_ip(word.split("/")[0]) == want for word in addresses.split() if "/" in word)


def one_holder_problem(vip: str, holders: list[str]) -> str | None:
    """The problem unless exactly one node holds the VIP."""
    if len(holders) == 1:
        return None
    return (
        f"VIP {vip} held by {len(holders)} nodes ({', '.join(holders) or 'none'}); "
        "expected exactly one"
    )


class HaproxyKeepalivedStrategy(Strategy[HaproxyKeepalived]):
    key = "haproxy-keepalived"
    section = SECTION
    section_type = HaproxyKeepalived
    tables = (
        Table(
            static_pod.TABLE,
            Balancer,
            "Balancer",
            static_pod.KEEPALIVED_FORM_ORDER,
            lambda table, profile: check_balancer(table, keepalived=True),
        ),
        node_agent.AGENT_TABLE,  # on the load-balancer nodes, beside haproxy
    )
    form_title = "haproxy + keepalived"
    card = Card(
        "haproxy + keepalived",
        "haproxy",
        "A free VIP in the nodes' subnet, VRRP between the LB nodes (unicast peers or multicast); "
        "haproxy checks /readyz.",
        "keepalived moves the VIP to another LB node in about 3 VRRP adverts; haproxy drops a "
        "master that fails /readyz.",
        "Bare metal or one L2 segment, and clients outside the cluster need one stable address.",
    )
    packages = (HAPROXY, KEEPALIVED, CURL)
    has_vip_holder = True
    lb_nodes = True

    def check(self, profile: Profile) -> list[Problem]:
        return check(profile)

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        return (
            HAPROXY_CFG,
            CHECK_SCRIPT,
            KEEPALIVED_CONF,
            FOLLOWER_PATH,
            f"/etc/systemd/system/{FOLLOWER_UNIT}",
            *SESSION_CUTTER_PATHS,
            *static_pod.manifest_paths(balancer_of(profile), ("haproxy", "keepalived")),
            *node_agent.node_paths(profile),
        )

    def uses_lb_nodes(self, profile: Profile) -> bool:
        return profile.table(SECTION, HaproxyKeepalived).run_on == RunOn.LB_NODES

    def lb_nodes_setting(self, profile: Profile) -> str:
        return f"haproxy_keepalived.run_on = {profile.table(SECTION, HaproxyKeepalived).run_on!r}"

    def plan(self, profile: Profile) -> RenderPlan:
        return plan(profile)

    def addresses(self, profile: Profile) -> Iterable[tuple[str, str]]:
        yield "haproxy_keepalived.vip", profile.table(SECTION, HaproxyKeepalived).vip

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return {
            "vip": site.vrrp_vip,
            "prefix_length": site.prefix_length,
            "interface": site.interface,
            "virtual_router_id": 51,
            "frontend_port": 8443,
            "unicast": True,
            "run_on": (RunOn.LB_NODES if site.lb_nodes else RunOn.MASTERS).value,
        }

    def waves(self, plan: RenderPlan, names: list[str]) -> list[list[str]]:
        """The nodes that carry the load balancer first, then the nodes that only verify
        through it (the workers), so those never wait on a VIP that is not coming."""
        carriers = [n for n in names if plan.for_node(n).files]
        return [w for w in (carriers, [n for n in names if n not in carriers]) if w]

    def cluster_nodes(self, profile: Profile) -> tuple[str, ...]:
        return tuple(n.name for n in lb_hosts(profile))

    def cluster_check(
        self, profile: Profile, nodes: Mapping[str, Runs], report: Report
    ) -> list[str]:
        """Exactly one load-balancer node must hold the VIP (the election may take a while)."""
        if not nodes:
            return []
        vip = profile.table(SECTION, HaproxyKeepalived).vip
        deadline = time.monotonic() + VIP_SETTLE_S
        while True:
            holders = [name for name, node in nodes.items() if holds_vip(node, vip)]
            if len(holders) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        problem = one_holder_problem(vip, holders)
        if problem is None:
            report("ok", f"VIP {vip} held by {holders[0]} only")
            return []
        report("failed", problem)
        return [problem]

    def verify_node(self, profile: Profile, name: str, node: Runs) -> VerifyExtras:
        if name not in self.cluster_nodes(profile):
            return VerifyExtras()
        return VerifyExtras(
            holds_vip=holds_vip(node, profile.table(SECTION, HaproxyKeepalived).vip)
        )

    def verify_problems(self, profile: Profile, extras: Mapping[str, VerifyExtras]) -> list[str]:
        holders = [name for name, seen in extras.items() if seen.holds_vip]
        problem = one_holder_problem(profile.table(SECTION, HaproxyKeepalived).vip, holders)
        return [] if problem is None else [problem]


STRATEGY = HaproxyKeepalivedStrategy()
