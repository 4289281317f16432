"""Lab keys and certificates: the SSH key pair, node host keys, known_hosts, the CA.

The SSH key pair and the CA are made once and kept in the lab folder; each master gets a
fresh apiserver certificate per ``lab up`` (its SANs depend on the lab's masters).
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from wizard.lab.constants import (
    APISERVER_HOSTNAME,
    BRIDGE_ADDRESS,
    BRIDGE_ADDRESS6,
    CA_CERT_FILE,
    CA_DIR,
    CA_KEY_FILE,
    HAPROXY_VIP,
    HAPROXY_VIP6,
    HOST_KEYS_DIR,
    IPVS_VIP,
    IPVS_VIP6,
    KNOWN_HOSTS_FILE,
    SSH_KEY_FILE,
)
from wizard.lab.system import run


def ensure_ssh_key() -> Path:
    """The lab's SSH key pair (ed25519, private key 0600), created on first use."""
    SSH_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(SSH_KEY_FILE.parent, 0o700)
    if not SSH_KEY_FILE.exists() or not SSH_KEY_FILE.with_suffix(".pub").exists():
        SSH_KEY_FILE.unlink(missing_ok=True)
        SSH_KEY_FILE.with_suffix(".pub").unlink(missing_ok=True)
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "kubeha-lab",
                "-f",
                str(SSH_KEY_FILE),
            ]
        )
    os.chmod(SSH_KEY_FILE, 0o600)
    return SSH_KEY_FILE


def public_key() -> str:
    """The lab public key line, for authorized_keys."""
    return SSH_KEY_FILE.with_suffix(".pub").read_text().strip()


def ensure_host_key(node: str) -> tuple[Path, str]:
    """A node's ed25519 sshd host key (kept per node name) and its public line."""
    folder = HOST_KEYS_DIR / node
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "ssh_host_ed25519_key"
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node}", "-f", str(key)])
    os.chmod(key, 0o600)
    return key, (folder / "ssh_host_ed25519_key.pub").read_text().strip()


def write_known_hosts(entries: Iterable[tuple[str, int, str]]) -> Path:
    """Write the lab known_hosts: ``[host]:port keytype key`` per (host, port, pubkey line)."""
    lines = []
    for host, port, pub in entries:
        keytype, key = pub.split()[:2]
        name = host if port == 22 else f"[{host}]:{port}"
        lines.append(f"{name} {keytype} {key}\n")
    KNOWN_HOSTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(KNOWN_HOSTS_FILE, "".join(lines), 0o644)
    return KNOWN_HOSTS_FILE


def ensure_ca() -> Path:
    """The lab CA certificate (EC P-256, 10 years), created on first use."""
    CA_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(CA_DIR, 0o700)
    if CA_CERT_FILE.exists() and CA_KEY_FILE.exists():
        return CA_CERT_FILE
    run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(CA_KEY_FILE)]
    )
    os.chmod(CA_KEY_FILE, 0o600)
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(CA_KEY_FILE),
            "-sha256",
            "-days",
            "3650",
            "-subj",
            "/CN=kubeha-lab-ca",
            "-out",
            str(CA_CERT_FILE),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
    )
    os.chmod(CA_CERT_FILE, 0o644)
    return CA_CERT_FILE


def apiserver_sans(master: str, master_addresses: Iterable[str]) -> list[str]:
    """Subject alternative names for a master's stand-in apiserver certificate."""
    master_addresses = list(master_addresses)
    ips = [*master_addresses, HAPROXY_VIP, IPVS_VIP, BRIDGE_ADDRESS, "127.0.0.1"]
    if any(":" in a for a in master_addresses):  # a dual-stack lab: its IPv6 names too
        ips += [HAPROXY_VIP6, IPVS_VIP6, BRIDGE_ADDRESS6, "::1"]
    dns = ["kubernetes", "kubernetes.default", APISERVER_HOSTNAME, master]
    seen: list[str] = []
    for ip in ips:
        ipaddress.ip_address(ip)
        entry = f"IP:{ip}"
        if entry not in seen:
            seen.append(entry)
    return seen + [f"DNS:{name}" for name in dns]


def issue_apiserver_cert(master: str, master_addresses: Iterable[str]) -> tuple[str, str]:
    """A key and certificate (PEM texts) for ``master``, signed by the lab CA."""
    return issue_cert(f"kube-apiserver-{master}", apiserver_sans(master, master_addresses))


def issue_cert(
    common_name: str,
    sans: Iterable[str] = (),
    *,
    organization: str | None = None,
    usage: str = "serverAuth",
    days: int = 825,
) -> tuple[str, str]:
    """A key and certificate (PEM texts) signed by the lab CA: EC P-256, the given subject
    (CN, optional O), SANs (``IP:...``/``DNS:...``) and extended key usage
    (``serverAuth``, ``clientAuth`` or ``serverAuth,clientAuth``)."""
    ensure_ca()
    sans = list(sans)
    subject = f"/CN={common_name}" + (f"/O={organization}" if organization else "")
    with tempfile.TemporaryDirectory(prefix="kubeha-lab-cert-") as tmp:
        key, csr, crt, ext = (Path(tmp) / n for n in ("k.pem", "r.csr", "c.pem", "ext.cnf"))
        lines = [f"subjectAltName={','.join(sans)}"] if sans else []
        lines += [
            f"extendedKeyUsage={usage}",
            "keyUsage=critical,digitalSignature,keyEncipherment",
        ]
        ext.write_text("\n".join(lines) + "\n")
        run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)])
        run(["openssl", "req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr)])
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(CA_CERT_FILE),
                "-CAkey",
                str(CA_KEY_FILE),
                "-CAcreateserial",
                "-days",
                str(days),
                "-sha256",
                "-extfile",
                str(ext),
                "-out",
                str(crt),
            ]
        )
        return key.read_text(), crt.read_text()


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
