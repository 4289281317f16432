"""The certificate preflight of a run that repoints clients (``[clients] repoint = true``): before
any node changes, every master's serving certificate must be issued by the cluster CA and cover
the host clients will dial through the load balancer (the plan's server URL).

Each master is asked over its own SSH connection: curl (7.88 or newer prints the chain with
``-w '%{certs}'``) fetches the certificate its apiserver presents on its own address, with
``openssl s_client`` as the fallback for an older curl. The CA is ``clients.ca_file`` when the
profile names it, else the first CA a listed kubeconfig on that master carries (embedded
``certificate-authority-data``, or the ``certificate-authority`` file it names). The checks
themselves are :mod:`wizard.retrofit.certs`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from wizard.engine.remote import RemoteNode, q
from wizard.netaddr import host_port, https_url
from wizard.profile import Master, Profile
from wizard.retrofit import certs, kubeconfig
from wizard.retrofit.client_diff import old_endpoints

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
FETCH_TIMEOUT_S = 10


def dialed_host(server_url: str) -> str:
    """The host in the clients' new server URL (no brackets around an IPv6 address)."""
    return urlsplit(server_url).hostname or ""


def fetch_script(address: str, port: int) -> str:
    """A shell script printing the PEM chain the apiserver at ``address:port`` presents."""
    url = q(https_url(address, port, "/"))
    target = q(host_port(address, port))
    return (
        f"out=$(curl -sk --max-time {FETCH_TIMEOUT_S} -o /dev/null -w '%{{certs}}' {url} "
        "2>/dev/null); "
        'case "$out" in *"BEGIN CERTIFICATE"*) printf "%s\\n" "$out"; exit 0;; esac; '
        "command -v openssl >/dev/null 2>&1 || exit 4; "
        f"timeout {FETCH_TIMEOUT_S} openssl s_client -connect {target} </dev/null 2>/dev/null "
        "| sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p'"
    )


def serving_certificate(node: RemoteNode, master: Master) -> bytes | str:
    """The DER certificate ``master``'s apiserver presents, or why there is none."""
    result = node.sh(fetch_script(master.address, master.apiserver_port), timeout=40)
    found = _PEM.search(result.stdout)
    if found is None:
        if result.returncode == 4:
            return "curl printed no certificate (needs curl 7.88 or newer) and openssl is missing"
        return f"no TLS certificate from {https_url(master.address, master.apiserver_port)}"
    try:
        return x509.load_pem_x509_certificate(found[0].encode()).public_bytes(Encoding.DER)
    except ValueError as exc:
        return f"the certificate it presents cannot be read: {exc}"


def cluster_ca(
    node: RemoteNode, profile: Profile, server_url: str = "", former: tuple[str, ...] = ()
) -> tuple[bytes | None, str]:
    """(the cluster CA's PEM, where it came from) on this node; (None, why) when none is found.
    From a kubeconfig, the CA of the cluster kubeha repoints in it (the one whose server names
    a master, or already the load balancer: ``server_url`` or a ``former`` one; else the
    current context's), not
    merely its first cluster, which may be another cluster's."""
    clients = profile.clients
    if clients.ca_file:
        text = node.read_text(clients.ca_file)
        if text is None:
            return None, f"clients.ca_file {clients.ca_file} does not exist there"
        return text.encode(), clients.ca_file
    masters = old_endpoints(profile)

    def ours(server: str) -> bool:
        return server in (server_url, *former) or kubeconfig.endpoint(server) in masters

    for target in clients.targets():
        text = node.read_text(target.path)
        if text is None:
            continue
        data = kubeconfig.ca_data(text, ours)
        if data:
            return data, f"{target.path} (certificate-authority-data)"
        path = kubeconfig.ca_file(text, ours)
        if path:
            path = posixpath.join(posixpath.dirname(target.path), path)
            pem = node.read_text(path)
            if pem:
                return pem.encode(), path
    paths = ", ".join(t.path for t in clients.targets())
    return None, (
        f"none of {paths} is there with a CA (certificate-authority-data or "
        "certificate-authority): set clients.ca_file to the cluster CA's path on the nodes"
    )


def check_master(
    node: RemoteNode,
    profile: Profile,
    master: Master,
    names: tuple[str, ...],
    server_url: str = "",
    former: tuple[str, ...] = (),
):
    """Every problem of one master's serving certificate (empty: clients may go through the LB)."""
    pem, where = cluster_ca(node, profile, server_url, former)
    if pem is None:
        return [f"master {master.name}: no cluster CA to check its certificate against: {where}"]
    try:
        ca = certs.load_ca(pem)
    except ValueError:
        return [f"master {master.name}: {where} is not a PEM certificate (the cluster CA)"]
    der = serving_certificate(node, master)
    if isinstance(der, str):
        return [f"master {master.name}: {der}"]
    return certs.problems(master.name, certs.read_cert(der, ca), names)


def run_preflight(
    profile: Profile,
    server_url: str,
    lease: Callable[[str], AbstractContextManager[RemoteNode]],
    former: tuple[str, ...] = (),
) -> tuple[list[str], list[str]]:
    """(problems, what was checked) for every master, on the connection ``lease`` gives (the
    run's: it stays open for the master's job). ``former``: the servers an older kubeha
    repointed clients to (the plan's)."""
    names = (dialed_host(server_url),)
    problems: list[str] = []
    checked: list[str] = []
    for master in profile.masters:
        try:
            with lease(master.name) as node:
                found = check_master(node, profile, master, names, server_url, former)
        except RuntimeError as exc:  # a file that cannot be read
            found = [f"master {master.name}: {exc}"]
        except Exception as exc:  # an SSH or lock error: the run stops, named
            found = [f"master {master.name}: cannot connect for the preflight: {exc}"]
        problems.extend(found)
        if not found:
            checked.append(f"master {master.name}: certificate covers {', '.join(names)}")
    return problems, checked
