"""ipvs: a kernel virtual server for the VIP on every node, the masters as real servers, and
kubeha's health checker (lvscare's job) removing a dead master and adding it back (the sealos
design). The VIP lives on a dummy interface of kubeha's own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wizard.field_checks import check_ip, check_port, check_vip, node_groups
from wizard.netaddr import host_cidr, host_port, https_url, parse_ip
from wizard.packages import CURL, same_name
from wizard.paths import TEMPLATES_DIR
from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import Problem, error
from wizard.profile import HealthCheck, Profile
from wizard.strategies.base import Card, Strategy
from wizard.strategies.common import (
    ALL_FAILING_FILE,
    HOSTS_FILE,
    apiserver_hostname_field,
    check_apiserver_hostname,
    snippets,
)
from wizard.strategies.fields import check_choice, described, field_info
from wizard.strategies.hooks import LabSite, Runs, VerifyExtras
from wizard.templating import render_template

SECTION = "ipvs"
CONFIG_DIR = "/etc/kubeha/ipvs"
RULES_FILE = f"{CONFIG_DIR}/ipvs.rules"
CHECKER_CONF = f"{CONFIG_DIR}/checker.conf"
CHECKER_PATH = "/usr/local/lib/kubeha/kubeha-ipvs-checker"
UNIT = "kubeha-ipvs-checker.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
SYSCTL_FILE = "/etc/sysctl.d/90-kubeha-ipvs.conf"
MODULES_FILE = "/etc/modules-load.d/kubeha-ipvs.conf"
DUMMY_INTERFACE = "kubeha-ipvs0"
CHECKER_SOURCE = "ipvs/kubeha-ipvs-checker.sh"  # a plain bash script, not a template
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq")
IPVSADM = same_name("ipvsadm")


@dataclass(frozen=True)
class Ipvs:
    """The ``[ipvs]`` section."""

    vip: str = described("10.103.97.2", "Virtual IP", "outside every node and pod network")
    port: int = described(6443, "Port", "the virtual server's port")
    scheduler: str = described(
        "rr", "Scheduler", "rr: round robin; lc: least connections", choices=SCHEDULERS
    )
    apiserver_hostname: str = apiserver_hostname_field()


def checker_script() -> str:
    """The health checker (bash + curl + ipvsadm + ip), the same on every node."""
    return (TEMPLATES_DIR / CHECKER_SOURCE).read_text()


def settle_check(
    vip_hostport: str, real_servers: list[str], path: str, hc: HealthCheck | None = None
) -> str:
    """A script that exits 0 once the node's virtual server holds every master that answers
    ``path`` from this node: right after a (re)start the checker still settles its table, and
    apply's verify waits for that instead of reporting a node whose table lacks a live master."""
    servers = " ".join(real_servers)
    hc = hc or HealthCheck()
    auth = f"{hc.curl_auth} " if hc.curl_auth else ""
    up = "|".join(hc.ok_codes)
    return (
        f"missing=; table=$(ipvsadm -Ln -t {vip_hostport} 2>/dev/null) || "
        f"{{ echo 'no virtual server {vip_hostport}'; exit 1; }}; "
        f"for rs in {servers}; do "
        f'code=$(curl -gsk {auth}-o /dev/null -m 5 -w "%{{http_code}}" "https://$rs{path}"); '
        f'case "$code" in {up}) ;; *) continue ;; esac; '
        'printf "%s\\n" "$table" | grep -qF -- "-> $rs " || missing="$missing $rs"; done; '
        '[ -z "$missing" ] && exit 0; '
        'echo "answering but not yet in the IPVS table:$missing"; exit 1'
    )


def plan(profile: Profile) -> RenderPlan:
    ipvs: Ipvs = profile.table(SECTION, Ipvs)
    hc = profile.health_check
    vip = parse_ip(ipvs.vip)
    assert vip is not None  # validated
    vip_hostport = host_port(ipvs.vip, ipvs.port)
    vip_cidr = host_cidr(ipvs.vip)
    context = {
        "profile": profile,
        "ipvs": ipvs,
        "hc": hc,
        "vip_hostport": vip_hostport,
        "vip_cidr": vip_cidr,
        "dummy_interface": DUMMY_INTERFACE,
        "rules_file": RULES_FILE,
        "config_file": CHECKER_CONF,
        "checker_path": CHECKER_PATH,
        "all_failing_file": ALL_FAILING_FILE,
    }
    rules = render_template("ipvs/ipvs.rules.j2", **context)
    unit = render_template("ipvs/kubeha-ipvs-checker.service.j2", **context)
    sysctl = render_template("ipvs/sysctl.conf.j2", **context)
    modules = render_template("ipvs/modules.conf.j2", **context)
    hosts_line = render_template("ipvs/hosts.line.j2", **context)
    checker = checker_script()
    cleanup = (
        ("ipvsadm", "-D", "-t", vip_hostport),
        ("ip", "link", "delete", DUMMY_INTERFACE),
    )
    real_servers = [host_port(m.address, m.apiserver_port) for m in profile.masters]
    settle = settle_check(vip_hostport, real_servers, hc.path, hc)
    nodes = []
    for node in profile.all_nodes():
        node_ip = parse_ip(node.address)
        # Local connections to the VIP leave from the node's own address, so masters can answer
        # them; a host name or another IP family leaves the kernel's choice.
        source = node.address if node_ip is not None and node_ip.version == vip.version else ""
        checker_conf = render_template(
            "ipvs/ipvs-checker.conf.j2", node=node, source_address=source, **context
        )
        files = (
            RenderedFile(MODULES_FILE, modules, "ipvs/modules.conf.j2"),
            RenderedFile(SYSCTL_FILE, sysctl, "ipvs/sysctl.conf.j2"),
            RenderedFile(RULES_FILE, rules, "ipvs/ipvs.rules.j2", service=UNIT, restart=True),
            RenderedFile(
                CHECKER_PATH,
                checker,
                CHECKER_SOURCE,
                mode=0o755,
                check=("bash", "-n", "{file}"),
                service=UNIT,
                restart=True,
            ),
            RenderedFile(
                CHECKER_CONF, checker_conf, "ipvs/ipvs-checker.conf.j2", service=UNIT, restart=True
            ),
            RenderedFile(
                UNIT_PATH, unit, "ipvs/kubeha-ipvs-checker.service.j2", service=UNIT, restart=True
            ),
            RenderedFile(HOSTS_FILE, hosts_line, "ipvs/hosts.line.j2", kind="line"),
        )
        nodes.append(
            NodePlan(
                node=node.name,
                role=profile.role_of(node.name),
                address=node.address,
                files=files,
                services=(UNIT,),
                packages=(IPVSADM, CURL),
                verify_url=https_url(ipvs.apiserver_hostname, ipvs.port, hc.path),
                cleanup=cleanup,
                settle_check=settle,
            )
        )
    extra, server_url = snippets(
        profile, ipvs.apiserver_hostname, ipvs.port, (ipvs.vip, ipvs.apiserver_hostname)
    )
    proxy = RenderedFile(
        "kube-proxy-config.yaml",
        render_template("ipvs/kube-proxy-config.yaml.j2", **context),
        "ipvs/kube-proxy-config.yaml.j2",
    )
    return RenderPlan(
        profile=profile, nodes=tuple(nodes), snippets=(*extra, proxy), server_url=server_url
    )


def check(profile: Profile) -> list[Problem]:
    section: Ipvs = profile.table(SECTION, Ipvs)
    problems: list[Problem] = []
    vip = parse_ip(section.vip)
    if vip is None:
        problems.append(
            error("ipvs.vip", section.vip, "expected the virtual IP address, e.g. 10.103.97.2")
        )
    else:
        check_vip(problems, "ipvs.vip", section.vip, vip)
        for group, index, node in node_groups(profile):
            if parse_ip(node.address) == vip:
                problems.append(
                    error(
                        "ipvs.vip",
                        section.vip,
                        f"expected a free address: it is {group}[{index}].address",
                    )
                )
    check_port(problems, "ipvs.port", section.port)
    check_choice(problems, "ipvs.scheduler", section.scheduler, field_info(Ipvs, "scheduler"))
    check_apiserver_hostname(problems, "ipvs.apiserver_hostname", section.apiserver_hostname)
    for index, master in enumerate(profile.masters):
        master_ip = parse_ip(master.address)
        if master_ip is None:
            check_ip(
                problems, f"masters[{index}].address", master.address, "IPVS real servers need IPs"
            )
        elif vip is not None and master_ip.version != vip.version:
            problems.append(
                error(
                    f"masters[{index}].address",
                    master.address,
                    f"expected an IPv{vip.version} address, the family of ipvs.vip "
                    f"({section.vip}): IPVS forwards only within one IP family",
                )
            )
    return problems


def ipvs_table(node: Runs) -> tuple[str, ...]:
    """The node's IPVS table (or why there is none), one line each."""
    listing = node.run(["ipvsadm", "-Ln"], timeout=15)
    text = listing.stdout if listing.ok else listing.stderr
    return tuple(line.rstrip() for line in text.splitlines() if line.strip())


class IpvsStrategy(Strategy[Ipvs]):
    key = "ipvs"
    section = SECTION
    section_type = Ipvs
    form_title = "IPVS (on every node)"
    card = Card(
        "IPVS",
        "IPVS",
        "The ip_vs kernel modules and ipvsadm on every node; a virtual IP outside every node and "
        "pod network.",
        "A checker on each node removes a master that fails /readyz from the kernel's virtual "
        "server, and adds it back.",
        "Large clusters that want kernel-speed balancing with no proxy process (the sealos design).",
    )
    packages = (IPVSADM, CURL)
    table_title = "IPVS table"

    def check(self, profile: Profile) -> list[Problem]:
        return check(profile)

    def plan(self, profile: Profile) -> RenderPlan:
        return plan(profile)

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        return (
            MODULES_FILE,
            SYSCTL_FILE,
            RULES_FILE,
            CHECKER_PATH,
            CHECKER_CONF,
            UNIT_PATH,
            HOSTS_FILE,
        )

    def addresses(self, profile: Profile) -> Iterable[tuple[str, str]]:
        yield "ipvs.vip", profile.table(SECTION, Ipvs).vip

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return {
            "vip": site.virtual_ip,
            "port": site.apiserver_port,
            "scheduler": "rr",
            "apiserver_hostname": site.apiserver_hostname,
        }

    def verify_node(self, profile: Profile, name: str, node: Runs) -> VerifyExtras:
        """The node's IPVS table, shown under verify's table."""
        return VerifyExtras(table=ipvs_table(node))


STRATEGY = IpvsStrategy()
