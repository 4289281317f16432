"""The profiles whose rendered files are pinned as golden files and checked by the real programs."""

from __future__ import annotations

import dataclasses

from tests.support.examples import example_profile, section
from wizard.profile import Master, Node, Profile
from wizard.strategies.haproxy_keepalived import HaproxyKeepalived
from wizard.strategies.static_pod import Balancer

# IPv6 documentation addresses (RFC 3849): the masters, a worker and the VIPs.
V6_MASTERS = tuple(Master(f"master{i}", f"2001:db8::1{i}", 6443) for i in (1, 2, 3))
V6_WORKERS = (Node("worker1", "2001:db8::21"),)


def cases() -> dict[str, Profile]:
    local = example_profile("local-nginx")
    hk = example_profile("haproxy-keepalived")
    ipvs = example_profile("ipvs")
    local_haproxy = example_profile("local-haproxy")
    return {
        "local-nginx": local,
        "local-nginx-source": dataclasses.replace(
            local,
            tables={
                **local.tables,
                "install": dataclasses.replace(
                    section(local, "install"),
                    method="source",
                    source_package_version="1.22.1-9+deb12u1",
                ),
            },
        ),
        "local-nginx-ipv6": dataclasses.replace(
            local,
            masters=tuple(Master(f"m{i}", f"fd00::{i}", 6443) for i in (1, 2, 3)),
            workers=(),
            tables={
                **local.tables,
                "local_nginx": dataclasses.replace(
                    section(local, "local_nginx"), listen_address="::1"
                ),
            },
        ),
        "haproxy-keepalived": hk,
        "haproxy-keepalived-lb-nodes": dataclasses.replace(
            hk,
            lb_nodes=(Node("lb1", "192.0.2.31"), Node("lb2", "192.0.2.32")),
            tables={
                **hk.tables,
                "haproxy_keepalived": HaproxyKeepalived(
                    vip="192.0.2.100", run_on="lb-nodes", frontend_port=6443, unicast=False
                ),
            },
        ),
        "haproxy-keepalived-ipv6": dataclasses.replace(
            hk,
            masters=V6_MASTERS,
            workers=V6_WORKERS,
            tables={
                **hk.tables,
                "haproxy_keepalived": dataclasses.replace(
                    section(hk, "haproxy_keepalived"), vip="2001:db8::100", prefix_length=64
                ),
            },
        ),
        "haproxy-keepalived-ipv6-lb-nodes": dataclasses.replace(
            hk,
            masters=V6_MASTERS,
            workers=V6_WORKERS,
            lb_nodes=(Node("lb1", "2001:db8::31"), Node("lb2", "2001:db8::32")),
            tables={
                **hk.tables,
                "haproxy_keepalived": HaproxyKeepalived(
                    vip="2001:db8::100",
                    prefix_length=64,
                    run_on="lb-nodes",
                    frontend_port=6443,
                    unicast=False,
                ),
            },
        ),
        "ipvs": ipvs,
        "ipvs-ipv6": dataclasses.replace(
            ipvs,
            masters=V6_MASTERS,
            workers=V6_WORKERS,
            tables={
                **ipvs.tables,
                "ipvs": dataclasses.replace(section(ipvs, "ipvs"), vip="2001:db8:97::2"),
            },
        ),
        "local-haproxy": local_haproxy,
        "local-haproxy-ipv6": dataclasses.replace(
            local_haproxy,
            masters=tuple(Master(f"m{i}", f"fd00::{i}", 6443) for i in (1, 2, 3)),
            workers=(),
            tables={
                **local_haproxy.tables,
                "local_haproxy": dataclasses.replace(
                    section(local_haproxy, "local_haproxy"), listen_address="::1"
                ),
            },
        ),
        # Dual stack: clients dial the proxy on IPv4 loopback, the proxy the masters on IPv6.
        "local-haproxy-dual-stack": dataclasses.replace(
            local_haproxy, masters=V6_MASTERS, workers=V6_WORKERS
        ),
        # The balancer as a static pod (kubeadm clusters); the nginx image is Debian's nginx-light
        # with its stream module, as the host's nginx that checks the config here.
        "local-haproxy-static-pod": dataclasses.replace(
            local_haproxy,
            tables={
                **local_haproxy.tables,
                "balancer": Balancer(run_as="static-pod", image="docker.io/library/haproxy:2.8"),
            },
        ),
        "haproxy-keepalived-static-pod": dataclasses.replace(
            hk,
            tables={
                **hk.tables,
                "balancer": Balancer(
                    run_as="static-pod",
                    image="docker.io/library/haproxy:2.8",
                    keepalived_image="registry.example/kube/keepalived:2.2.7",
                ),
            },
        ),
        "local-nginx-static-pod": dataclasses.replace(
            local,
            tables={
                **local.tables,
                "balancer": Balancer(
                    run_as="static-pod",
                    image="registry.example:5000/kube/nginx:1.22@sha256:" + "0" * 64,
                    stream_module="/usr/lib/nginx/modules/ngx_stream_module.so",
                ),
            },
        ),
        "local-nginx-dual-stack": dataclasses.replace(
            local,
            masters=V6_MASTERS,
            workers=(Node("worker1", "192.0.2.21"),),
        ),
    }
