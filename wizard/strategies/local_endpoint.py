"""The endpoint of the node-local strategies (local-nginx, local-haproxy): a proxy on every node
listens on ``listen_address:listen_port``, and clients dial ``apiserver_hostname`` on that port,
resolved to the proxy by kubeha's /etc/hosts line on every node.

A name, not the proxy's literal 127.0.0.1: kubeadm copies ``controlPlaneEndpoint`` into
admin.conf and the cluster-info ConfigMap, and a kubeconfig that says ``127.0.0.1:8443`` breaks
on every machine that is not a node. With the name, such a machine (a workstation) maps the name
to a master's address in its own /etc/hosts and dials that master's apiserver port (6443), not
the proxy's: the proxy listens on each node for that node (127.0.0.1 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wizard.field_checks import check_ip, check_port, master_ports
from wizard.netaddr import https_url, loopback, never_a_host, parse_ip
from wizard.packages import Package
from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import Problem, error, warning
from wizard.profile import Profile
from wizard.strategies.common import (
    apiserver_hostname_field,
    check_apiserver_hostname,
    hosts_line,
    snippets,
)
from wizard.strategies.fields import described
from wizard.strategies.hooks import LabSite


@dataclass(frozen=True)
class NodeLocal:
    """The section of a node-local strategy (``[local_nginx]``, ``[local_haproxy]``): one type
    for both, each strategy its own table of it."""

    listen_address: str = described(
        "127.0.0.1", "Listen address", "keep it on loopback: only the node uses the proxy"
    )
    listen_port: int = described(
        8443, "Proxy port", "clients use this port; must differ from the apiserver's"
    )
    apiserver_hostname: str = apiserver_hostname_field()


def dial_address(listen_address: str) -> str:
    """The address a node reaches its own proxy on: the listen address, or loopback of its
    family when the proxy listens on every address (0.0.0.0, ::)."""
    ip = parse_ip(listen_address)
    if ip is not None and ip.is_unspecified:
        return loopback(ip.version)
    return listen_address


def hosts_file(profile: Profile, section: NodeLocal) -> RenderedFile:
    """The managed /etc/hosts line: ``127.0.0.1 apiserver.cluster.local`` by default."""
    return hosts_line(profile, dial_address(section.listen_address), section.apiserver_hostname)


def server_url(section: NodeLocal) -> str:
    """What clients dial: ``https://apiserver.cluster.local:8443`` by default."""
    return https_url(section.apiserver_hostname, section.listen_port)


def verify_url(profile: Profile, section: NodeLocal) -> str:
    """The name clients dial, resolved by the hosts line that upload put on the node: verify
    proves the line and the proxy together, and ``--ca-file`` checks the name clients check."""
    return server_url(section) + profile.health_check.path


def former_server_url(section: NodeLocal) -> str:
    """What kubeha before the host name repointed clients to (the proxy's own address), so
    uninstall still points those kubeconfigs back and a re-apply moves them to the name."""
    return https_url(dial_address(section.listen_address), section.listen_port)


def endpoint_snippets(profile: Profile, section: NodeLocal) -> tuple[tuple[RenderedFile, ...], str]:
    """The kubeadm and kubeconfig snippets for the name; the certificate's SANs take the name,
    the proxy's address and 127.0.0.1 (``cert_sans`` adds it)."""
    extra = (section.apiserver_hostname, dial_address(section.listen_address))
    return snippets(
        profile, section.apiserver_hostname, section.listen_port, extra, section.listen_address
    )


def check_hostname(profile: Profile, name: str) -> list[Problem]:
    problems: list[Problem] = []
    section = profile.table(name, NodeLocal)
    check_apiserver_hostname(problems, f"{name}.apiserver_hostname", section.apiserver_hostname)
    return problems


def check_listener(profile: Profile, name: str) -> list[Problem]:
    """The listen address and port of a proxy on every node, and the API host name clients
    dial, in section ``name`` (any section with ``listen_address``, ``listen_port`` and
    ``apiserver_hostname``: local-haproxy's too)."""
    section = profile.table(name, NodeLocal)
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
    problems.extend(check_hostname(profile, name))
    return problems


def lab_section(section_type: type, site: LabSite) -> dict[str, Any]:
    """A node-local section for the lab: the defaults, with the lab's API host name (which the
    lab's apiserver certificates carry); on IPv6 the proxy listens on ::1."""
    defaults = section_type()
    return {
        "listen_address": loopback(6) if site.ipv6 else defaults.listen_address,
        "listen_port": defaults.listen_port,
        "apiserver_hostname": site.apiserver_hostname,
    }


def node_local_plan(
    profile: Profile,
    section: NodeLocal,
    files: tuple[RenderedFile, ...],
    services: tuple[str, ...],
    packages: tuple[Package, ...],
    drain: tuple[str, str] | None,
    *,
    static_pods: tuple[str, ...] = (),
    cleanup: tuple[tuple[str, ...], ...] = (),
) -> RenderPlan:
    """The plan of a balancer on every node (local-nginx, local-haproxy): ``files`` and the
    API host name's /etc/hosts line on each, its port shared with the other node-local
    balancer (a take-over in place), ``drain``: (unit, the signal that stops it gently).
    A static pod (``static_pods``: its manifests) takes no port over and is taken over by
    none: kubelet, not a signal of kubeha's, stops it."""
    files = (*files, hosts_file(profile, section))
    url = verify_url(profile, section)
    nodes = tuple(
        NodePlan(
            node=node.name,
            role=profile.role_of(node.name),
            address=node.address,
            files=files,
            services=services,
            packages=packages,
            verify_url=url,
            ports=((section.listen_address, section.listen_port),),
            shares_port=not static_pods,
            drain_signals=(drain,) if drain else (),
            static_pods=static_pods,
            cleanup=cleanup,
        )
        for node in profile.all_nodes()
    )
    extra, server = endpoint_snippets(profile, section)
    return RenderPlan(
        profile=profile,
        nodes=nodes,
        snippets=extra,
        server_url=server,
        former_server_urls=(former_server_url(section),),
    )
