"""Ready-to-use kubeha profiles for the running lab, one per strategy, in the user's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomli_w

from wizard import paths
from wizard.lab.balancer_images import (
    HAPROXY_IMAGE,
    KEEPALIVED_IMAGE,
    NGINX_IMAGE,
    NGINX_STREAM_MODULE,
)
from wizard.lab.constants import (
    APISERVER_HOSTNAME,
    APISERVER_PORT,
    HAPROXY_VIP,
    HAPROXY_VIP6,
    IPVS_VIP,
    IPVS_VIP6,
    KNOWN_HOSTS_FILE,
    NODE_INTERFACE,
    PREFIX_LENGTH,
    PREFIX_LENGTH6,
    SSH_KEY_FILE,
)
from wizard.lab.control_plane import KUBEADM
from wizard.lab.state import LabState
from wizard.profile import Role
from wizard.strategies import registry
from wizard.strategies.hooks import LabSite

# The strategies whose balancer may run as a static pod, and the lab image of each
# (wizard.lab.balancer_images: the rootfs's Debian binaries, imported at kubeadm lab-up).
STATIC_POD = "static-pod"
STATIC_POD_BALANCERS: dict[str, dict[str, str]] = {
    "local-haproxy": {"image": HAPROXY_IMAGE},
    "local-nginx": {"image": NGINX_IMAGE, "stream_module": NGINX_STREAM_MODULE},
    "haproxy-keepalived": {"image": HAPROXY_IMAGE, "keepalived_image": KEEPALIVED_IMAGE},
}


def profile_name(strategy: str, ipv6: bool = False, static_pod: bool = False) -> str:
    name = f"lab-{strategy}-ipv6" if ipv6 else f"lab-{strategy}"
    return f"{name}-{STATIC_POD}" if static_pod else name


def site(lb_nodes: bool, ipv6: bool = False) -> LabSite:
    """The lab's network as a strategy's lab section needs it (its IPv6 side with ``ipv6``)."""
    return LabSite(
        vrrp_vip=HAPROXY_VIP6 if ipv6 else HAPROXY_VIP,
        virtual_ip=IPVS_VIP6 if ipv6 else IPVS_VIP,
        prefix_length=PREFIX_LENGTH6 if ipv6 else PREFIX_LENGTH,
        interface=NODE_INTERFACE,
        apiserver_port=APISERVER_PORT,
        apiserver_hostname=APISERVER_HOSTNAME,
        lb_nodes=lb_nodes,
        ipv6=ipv6,
    )


def build_profile(
    state: LabState, strategy: str, ipv6: bool = False, static_pod: bool = False
) -> dict[str, Any]:
    """The profile (as a TOML-ready dict) for ``strategy`` on the lab's nodes; with ``ipv6``
    (a dual-stack lab) every node, VIP and proxy is addressed by IPv6; with ``static_pod`` (a
    kubeadm lab) its balancer runs as a static pod of the lab's image."""
    if ipv6 and not state.ipv6:
        from wizard.lab.errors import LabError

        raise LabError("the lab that is up has no IPv6 (kubeha lab up --ipv6)")

    def nodes(role: str, with_port: bool = False) -> list[dict[str, Any]]:
        result = []
        for n in state.nodes:
            if n.role != role:
                continue
            entry: dict[str, Any] = {"name": n.name, "address": n.address6 if ipv6 else n.address}
            if with_port:
                entry["apiserver_port"] = APISERVER_PORT
            entry["ssh"] = {"host": n.ssh_host, "port": n.ssh_port}
            result.append(entry)
        return result

    profile: dict[str, Any] = {
        "schema_version": 1,
        "name": profile_name(strategy, ipv6, static_pod),
        "strategy": strategy,
        "masters": nodes(Role.MASTER, with_port=True),
        "workers": nodes(Role.WORKER),
    }
    chosen = registry.get(strategy)
    lb_nodes = nodes(Role.LB) if chosen.lb_nodes else []  # others refuse [[lb_nodes]]
    if lb_nodes:
        profile["lb_nodes"] = lb_nodes
    profile[chosen.section] = chosen.lab_section(site(bool(lb_nodes), ipv6))
    if static_pod:
        profile["balancer"] = {"run_as": STATIC_POD, **STATIC_POD_BALANCERS[strategy]}
    if state.control_plane == KUBEADM:
        # A kubeadm cluster made HA: kubeadm's kubeconfigs (none listed: Clients.targets) and
        # its objects (kube-proxy's ConfigMap, cluster-info, kubeadm-config) repointed to the
        # load balancer; kubeadm's local kubeconfigs stay local (repoint_local off).
        profile["clients"] = {"repoint": True}
    if state.hardened:  # anonymous /readyz answers 401: read it as kubelet
        profile["health_check"] = {"auth": "client-cert"}
    profile["ssh"] = {
        "user": "root",
        "key_file": str(SSH_KEY_FILE),
        "known_hosts": str(KNOWN_HOSTS_FILE),
        "port": 22,
        "sudo": False,
    }
    return profile


def write_profiles(state: LabState, folder: Path | None = None) -> list[Path]:
    """Write ``lab-<strategy>.toml`` for every strategy (and ``lab-<strategy>-ipv6.toml`` in a
    dual-stack lab); returns the paths written."""
    folder = folder or paths.user_profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ipv6 in (False, True) if state.ipv6 else (False,):
        for strategy in registry.names():
            path = folder / f"{profile_name(strategy, ipv6)}.toml"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(tomli_w.dumps(build_profile(state, strategy, ipv6)).encode())
            os.replace(tmp, path)
            written.append(path)
    if state.control_plane == KUBEADM:  # the balancer as a static pod too
        for strategy in STATIC_POD_BALANCERS:
            path = folder / f"{profile_name(strategy, static_pod=True)}.toml"
            tmp = path.with_name(f".{path.name}.tmp")
            data = build_profile(state, strategy, static_pod=True)
            tmp.write_bytes(tomli_w.dumps(data).encode())
            os.replace(tmp, path)
            written.append(path)
    return written
