"""The certificate preflight: does every master's serving certificate, issued by the cluster CA,
cover the name clients will dial once they go through the load balancer?

A client checks the apiserver's certificate against the host in its kubeconfig's ``server:``.
Repointing clients to ``https://apiserver.cluster.local:8443`` or a VIP that is not in the
certificate's subject alternative names breaks every one of them at the next connection, so this
check runs before anything changes, and a failure names the master, its SANs, the missing name and
the fix.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

REISSUE_HINT = (
    "kubeadm: add {name!r} to apiServer.certSANs in the ClusterConfiguration, move "
    "/etc/kubernetes/pki/apiserver.{{crt,key}} aside and run `kubeadm init phase certs apiserver "
    "--config FILE` on {master}, then restart its kube-apiserver; other installs: re-issue the "
    "serving certificate with that name"
)


@dataclass(frozen=True)
class ServingCert:
    """What the preflight needs from one master's certificate."""

    subject: str
    sans: tuple[str, ...]  # DNS names as written, IP addresses in their canonical form
    issued_by_ca: bool
    der: bytes


def load_ca(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def read_cert(der: bytes, ca: x509.Certificate | None) -> ServingCert:
    """Parse a DER certificate; ``issued_by_ca`` checks the signature against ``ca``."""
    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(
            [*ext.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        sans = ()
    issued = False
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca)
            issued = True
        except (ValueError, TypeError, InvalidSignature):  # any of them: not by this CA
            issued = False
    return ServingCert(cert.subject.rfc4514_string(), sans, issued, der)


def covers(sans: tuple[str, ...], name: str) -> bool:
    """Would a client dialing ``name`` accept a certificate with these SANs (RFC 6125: IPs
    compare as addresses, DNS names case-insensitively, ``*`` only as the whole leftmost label)?"""
    try:
        wanted_ip = ipaddress.ip_address(name)
    except ValueError:
        wanted_ip = None
    for san in sans:
        if wanted_ip is not None:
            try:
                if ipaddress.ip_address(san) == wanted_ip:
                    return True
            except ValueError:
                continue
            continue
        if _dns_match(san.lower().rstrip("."), name.lower().rstrip(".")):
            return True
    return False


def _dns_match(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def problems(master: str, cert: ServingCert, names: tuple[str, ...]) -> list[str]:
    """Every reason clients dialing ``names`` through the LB would refuse ``master``'s cert."""
    found: list[str] = []
    if not cert.issued_by_ca:
        found.append(
            f"master {master}: its serving certificate ({cert.subject}) is not issued by the "
            "cluster CA; clients would refuse it"
        )
    sans = ", ".join(cert.sans) or "none"
    for name in names:
        if not covers(cert.sans, name):
            found.append(
                f"master {master}: its serving certificate does not cover {name!r} "
                f"(SANs: {sans}); clients will dial {name!r} through the load balancer. "
                f"Fix: {REISSUE_HINT.format(name=name, master=master)}"
            )
    return found


class ByteStream(Protocol):
    """A socket, or an SSH direct-tcpip channel: what :func:`peer_certificate` talks TLS over."""

    def settimeout(self, timeout: float | None) -> None: ...

    def sendall(self, data: bytes) -> None: ...

    def recv(self, size: int) -> bytes: ...


def peer_certificate(
    stream: ByteStream, server_name: str | None = None, timeout_s: float = 10.0
) -> bytes:
    """The DER certificate a TLS server presents on ``stream`` (anything with ``sendall`` and
    ``recv``, e.g. a socket or an SSH direct-tcpip channel). Nothing is verified here: the
    caller checks it with :func:`read_cert` and :func:`problems`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    if hasattr(stream, "settimeout"):
        stream.settimeout(timeout_s)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                stream.sendall(pending)
            data = stream.recv(65536)
            if not data:
                raise ConnectionError(
                    "the server closed the connection during the TLS handshake"
                ) from None
            incoming.write(data)
    pending = outgoing.read()
    if pending:
        stream.sendall(pending)
    der = tls.getpeercert(binary_form=True)
    if not der:
        raise ConnectionError("the server presented no certificate")
    return der


def der_to_pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
