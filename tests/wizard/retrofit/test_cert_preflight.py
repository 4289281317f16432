"""The certificate preflight, on certificates made here and served over TLS on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wizard.retrofit import certs


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str = "kubernetes"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _serving(ca_key, ca_cert, sans: list[str]):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


SANS = ["kubernetes", "kubernetes.default", "10.77.0.11", "127.0.0.1", "*.cluster.example"]


def test_covers_ips_names_and_wildcards():
    sans = ("Kubernetes", "10.77.0.11", "*.cluster.example", "fd00::0:1")
    assert certs.covers(sans, "kubernetes")
    assert certs.covers(sans, "10.77.0.11")
    assert certs.covers(sans, "fd00::1")
    assert certs.covers(sans, "api.cluster.example")
    assert not certs.covers(sans, "a.b.cluster.example")
    assert not certs.covers(sans, "cluster.example")
    assert not certs.covers(sans, "10.77.0.12")
    assert not certs.covers(sans, "127.0.0.1")


def test_missing_san_names_master_sans_name_and_fix():
    ca_key, ca = _ca()
    _, serving = _serving(ca_key, ca, ["kubernetes", "10.77.0.11"])
    cert = certs.read_cert(serving.public_bytes(serialization.Encoding.DER), ca)
    assert cert.issued_by_ca
    found = certs.problems("m1", cert, ("10.77.0.11", "127.0.0.1"))
    assert len(found) == 1
    problem = found[0]
    assert "master m1" in problem and "'127.0.0.1'" in problem
    assert "SANs: kubernetes, 10.77.0.11" in problem
    assert "certSANs" in problem and "kubeadm init phase certs apiserver" in problem


def test_a_certificate_from_another_ca_is_refused():
    ca_key, _ = _ca()
    _, other_ca = _ca("other")
    _, serving = _serving(ca_key, _ca()[1], SANS)
    cert = certs.read_cert(serving.public_bytes(serialization.Encoding.DER), other_ca)
    assert not cert.issued_by_ca
    assert "not issued by the cluster CA" in certs.problems("m2", cert, ("127.0.0.1",))[0]


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on loopback presenting a serving certificate signed by a fresh CA."""
    ca_key, ca = _ca()
    key, serving = _serving(ca_key, ca, SANS)
    cert_file, key_file = tmp_path / "s.crt", tmp_path / "s.key"
    cert_file.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve_one():
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    yield listener.getsockname()[1], ca, serving
    listener.close()
    thread.join(10)


def test_peer_certificate_over_a_plain_stream(tls_server):
    port, ca, serving = tls_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        der = certs.peer_certificate(sock, "kubernetes")
    assert der == serving.public_bytes(serialization.Encoding.DER)
    cert = certs.read_cert(der, ca)
    assert cert.issued_by_ca and "127.0.0.1" in cert.sans
    assert certs.problems("m1", cert, ("127.0.0.1", "api.cluster.example")) == []
    assert certs.der_to_pem(der).startswith(b"-----BEGIN CERTIFICATE-----")
