"""The profiles whose rendered files are pinned as golden files and checked by the real programs."""

from __future__ import annotations

import dataclasses

from tests.conftest import example_profile
from wizard.profile import Master, Node, Profile
from wizard.strategies.haproxy_keepalived import HaproxyKeepalived


def cases() -> dict[str, Profile]:
    local = example_profile("local-nginx")
    hk = example_profile("haproxy-keepalived")
    ipvs = example_profile("ipvs")
    local_haproxy = example_profile("local-haproxy")
    return {
        "local-nginx": local,
        "local-nginx-source": dataclasses.replace(
            local,
            install=dataclasses.replace(
                local.install, method="source", source_package_version="1.22.1-9+deb12u1"
            ),
        ),
        "local-nginx-ipv6": dataclasses.replace(
            local,
            masters=tuple(Master(f"m{i}", f"fd00::{i}", 6443) for i in (1, 2, 3)),
            workers=(),
            local_nginx=dataclasses.replace(local.local_nginx, listen_address="::1"),
        ),
        "haproxy-keepalived": hk,
        "haproxy-keepalived-lb-nodes": dataclasses.replace(
            hk,
            lb_nodes=(Node("lb1", "192.0.2.31"), Node("lb2", "192.0.2.32")),
            haproxy_keepalived=HaproxyKeepalived(
                vip="192.0.2.100", run_on="lb-nodes", frontend_port=6443, unicast=False
            ),
        ),
        "ipvs": ipvs,
        "local-haproxy": local_haproxy,
        "local-haproxy-ipv6": dataclasses.replace(
            local_haproxy,
            masters=tuple(Master(f"m{i}", f"fd00::{i}", 6443) for i in (1, 2, 3)),
            workers=(),
            local_haproxy=dataclasses.replace(local_haproxy.local_haproxy, listen_address="::1"),
        ),
    }
