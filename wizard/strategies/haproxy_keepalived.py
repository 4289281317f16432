"""haproxy-keepalived: a VRRP virtual IP held by one of the load-balancer nodes (the masters by
default, or dedicated LB nodes), in front of haproxy with /readyz health checks (the kubeadm HA
guide's design, with the fixes its users needed: redispatch, shutdown-sessions, long timeouts,
one unicast peer per line)."""

from __future__ import annotations

import math

from wizard.netaddr import host_port, parse_ip, url_host
from wizard.paths import TEMPLATES_DIR
from wizard.profile import Profile
from wizard.render import NodePlan, RenderedFile, RenderPlan, render_template
from wizard.strategies.common import CUTTER_UNIT, session_cutter_files, snippets

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
CHECK_SCRIPT = "/etc/keepalived/check_apiserver.sh"
HAPROXY_UNIT = "haproxy.service"
KEEPALIVED_UNIT = "keepalived.service"
TOP_PRIORITY = 200
FOLLOWER_UNIT = "kubeha-vip-follower.service"
FOLLOWER_PATH = "/usr/local/lib/kubeha/kubeha-vip-follower"
FOLLOWER_SOURCE = "haproxy-keepalived/kubeha-vip-follower.sh"  # plain bash, not a template


def vip_follower_files(profile: Profile) -> tuple[RenderedFile, RenderedFile]:
    """Every node's kubeha-vip-follower: closes the node's connections to the VIP when the VIP
    changes holder, so a watch on a vanished holder reconnects at once (see the script)."""
    hk = profile.haproxy_keepalived
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


def plan(profile: Profile) -> RenderPlan:
    hk = profile.haproxy_keepalived
    hc = profile.health_check
    vip = parse_ip(hk.vip)
    assert vip is not None  # validated
    v6 = vip.version == 6
    lb_hosts = profile.lb_hosts()
    haproxy_cfg = render_template(
        "haproxy-keepalived/haproxy.cfg.j2",
        profile=profile,
        hk=hk,
        hc=hc,
        bind_address=":::" if v6 else "*",
        bind_v4v6=v6,
        interval_ms=round(hc.interval * 1000),
        check_timeout_ms=round(hc.timeout * 1000),
    )
    verify_url = f"https://{url_host(hk.vip)}:{hk.frontend_port}{hc.path}"
    nodes: list[NodePlan] = []
    lb_names = [n.name for n in lb_hosts]
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
        peers = [n for n in lb_hosts if n.name != node.name]
        check_script = render_template(
            "haproxy-keepalived/check_apiserver.sh.j2",
            profile=profile,
            node=node,
            hk=hk,
            hc=hc,
            local_check_host="[::1]" if v6 else "127.0.0.1",
            curl_max_time=max(1, math.ceil(hc.timeout)),
        )
        keepalived_conf = render_template(
            "haproxy-keepalived/keepalived.conf.j2",
            profile=profile,
            node=node,
            hk=hk,
            hc=hc,
            peers=peers,
            priority=TOP_PRIORITY - index,
            check_script=CHECK_SCRIPT,
            script_interval=max(1, math.ceil(hc.interval)),
            script_timeout=max(1, math.ceil(hc.timeout)) + 1,
        )
        files = (
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
                "haproxy-keepalived/keepalived.conf.j2",
                mode=0o640,
                check=("keepalived", "--config-test", "--use-file={file}"),
                service=KEEPALIVED_UNIT,
            ),
            *session_cutter_files(profile),
            *follower,
        )
        nodes.append(
            NodePlan(
                node=node.name,
                role=profile.role_of(node.name),
                address=node.address,
                files=files,
                services=(HAPROXY_UNIT, KEEPALIVED_UNIT, CUTTER_UNIT, FOLLOWER_UNIT),
                packages=("haproxy", "keepalived", "curl"),
                verify_url=verify_url,
                ports=(("*", hk.frontend_port),),
            )
        )
    extra, server_url = snippets(profile, hk.vip, hk.frontend_port, (hk.vip,))
    return RenderPlan(profile=profile, nodes=tuple(nodes), snippets=extra, server_url=server_url)
