"""What every strategy shares: the operator's snippets (kubeadm, kubeconfig server), the API
host name that clients dial (a managed /etc/hosts line on every node), and the session cutter."""

from __future__ import annotations

from typing import Any

from wizard import kubeadm_api
from wizard.field_checks import check_lower_case
from wizard.netaddr import bare, family, host_port, https_url, is_hostname, parse_ip
from wizard.plan import RenderedFile
from wizard.problems import Problem, error
from wizard.profile import Profile
from wizard.strategies.fields import described
from wizard.templating import render_template

HOSTS_FILE = "/etc/hosts"
APISERVER_HOSTNAME = "apiserver.cluster.local"


def apiserver_hostname_field() -> Any:
    """The described ``apiserver_hostname`` field of a section whose clients dial a name that
    kubeha's /etc/hosts line resolves on every node (ipvs, local-nginx, local-haproxy)."""
    return described(APISERVER_HOSTNAME, "API host name", "written to /etc/hosts on every node")


def check_apiserver_hostname(problems: list[Problem], field: str, value: str) -> None:
    if not is_hostname(value):
        problems.append(error(field, value, f"expected a host name, e.g. {APISERVER_HOSTNAME}"))
    else:
        check_lower_case(problems, field, value)


def hosts_line(profile: Profile, address: str, hostname: str) -> RenderedFile:
    """kubeha's one line in /etc/hosts (``address hostname``), kept by the engine byte-exactly:
    added on apply, the file given back as it was on uninstall."""
    line = render_template(
        "common/hosts.line.j2", profile=profile, address=address, hostname=hostname
    )
    return RenderedFile(HOSTS_FILE, line, "common/hosts.line.j2", kind="line")


def cert_sans(profile: Profile, extra: tuple[str, ...]) -> list[str]:
    """Every name and address a client may use for the apiserver, once, in a stable order."""
    names: list[str] = []
    addresses = (*extra, *(m.address for m in profile.masters))
    ipv6 = any(family(a) == 6 for a in addresses)
    for value in (
        *extra,
        "127.0.0.1",
        *(("::1",) if ipv6 else ()),
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        *(m.address for m in profile.masters),
        *(m.name for m in profile.masters),
    ):
        value = bare(value)
        if value not in names:
            names.append(value)
    return names


def snippets(
    profile: Profile,
    endpoint_host: str,
    endpoint_port: int,
    extra_sans: tuple[str, ...],
    local_listen: str = "",
) -> tuple[tuple[RenderedFile, ...], str]:
    """The kubeadm ClusterConfiguration and the kubeconfig server line for clients that dial
    ``endpoint_host:endpoint_port``, and that server URL.

    When clients dial a name (kubeha's /etc/hosts line resolves it on the nodes), the server
    snippet also tells another machine (a workstation) what works there: the name mapped to a
    master's address and that master's own apiserver port. ``local_listen``: the address of the
    node-local proxy (local-nginx, local-haproxy), which serves its own node, so the workstation
    never dials its port."""
    endpoint = host_port(endpoint_host, endpoint_port)
    server_url = https_url(endpoint_host, endpoint_port)
    hosts_name = "" if parse_ip(endpoint_host) is not None else endpoint_host
    master = profile.masters[0]
    workstation_url = https_url(endpoint_host, master.apiserver_port)
    kubeadm = render_template(
        "common/kubeadm-config.yaml.j2",
        profile=profile,
        endpoint=endpoint,
        kubeadm_api=kubeadm_api.get(profile.cluster.kubeadm_api),
        cert_sans=cert_sans(profile, extra_sans),
    )
    server = render_template(
        "common/kubeconfig-server.txt.j2",
        profile=profile,
        server_url=server_url,
        hosts_name=hosts_name,
        master=master,
        workstation_url=workstation_url,
        endpoint_port=endpoint_port,
        local_listen=local_listen,
    )
    files = (
        RenderedFile("kubeadm-config.yaml", kubeadm, "common/kubeadm-config.yaml.j2"),
        RenderedFile("kubeconfig-server.txt", server, "common/kubeconfig-server.txt.j2"),
    )
    return files, server_url


def user_timeout_ms(profile: Profile) -> int:
    """The TCP user timeout on haproxy's sessions to the masters (``tcp-ut``): one check
    interval. A master's kernel acknowledges a request or a keepalive probe within
    milliseconds however busy its apiserver is; none for a whole interval means its host is
    gone, and the kernel closes the session then (with fall x interval, 2 s by default, a
    kept-alive client's request in flight to a cut master waited 2.4 s)."""
    return round(profile.health_check.interval * 1000)


# haproxy (both haproxy strategies): a connection to a master that is refused or times out counts
# as a failed check at once and the master is checked again every HAPROXY_FASTINTER_MS until it
# passes or falls. A crashed apiserver that kubelet starts again within a check interval answers
# errors until it is ready: without this it took requests until `fall` ordinary checks failed
# (2 s at the defaults; seen on the kubeadm lab, a kubectl through the VIP answered by it). A
# master that still passes its checks stays up (the error alone does not mark it down).
HAPROXY_OBSERVE = "layer4 error-limit 1 on-error fail-check"
HAPROXY_FASTINTER_MS = 250


def haproxy_fastinter_ms(profile: Profile) -> int:
    """haproxy's ``fastinter``: HAPROXY_FASTINTER_MS, never longer than the check interval."""
    return min(HAPROXY_FASTINTER_MS, round(profile.health_check.interval * 1000))


CUTTER_UNIT = "kubeha-session-cutter.service"
CUTTER_UNIT_PATH = f"/etc/systemd/system/{CUTTER_UNIT}"
CUTTER_PATH = "/usr/local/lib/kubeha/kubeha-session-cutter"
# Present while every master fails its check on the node (the session cutter and the ipvs
# checker write it; `kubeha verify` reads it): one line, since when.
ALL_FAILING_FILE = "/run/kubeha/all-masters-failing"
CUTTER_MARKS_DIR = "/run/kubeha/cutter-failing"


SESSION_CUTTER_PATHS = (CUTTER_PATH, CUTTER_UNIT_PATH)


def session_cutter_files(profile: Profile) -> tuple[RenderedFile, RenderedFile]:
    """The script and unit that cut every session to a master that stops answering its health
    check (see templates/common/kubeha-session-cutter.j2 for why)."""
    script = render_template(
        "common/kubeha-session-cutter.j2",
        profile=profile,
        hc=profile.health_check,
        all_failing_file=ALL_FAILING_FILE,
        marks_dir=CUTTER_MARKS_DIR,
    )
    unit = render_template(
        "common/kubeha-session-cutter.service.j2", profile=profile, checker_path=CUTTER_PATH
    )
    return (
        RenderedFile(
            CUTTER_PATH,
            script,
            "common/kubeha-session-cutter.j2",
            mode=0o755,
            check=("sh", "-n", "{file}"),
            service=CUTTER_UNIT,
            restart=True,
        ),
        RenderedFile(
            CUTTER_UNIT_PATH,
            unit,
            "common/kubeha-session-cutter.service.j2",
            service=CUTTER_UNIT,
            restart=True,
        ),
    )
