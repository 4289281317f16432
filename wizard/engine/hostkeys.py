"""Host keys checked like OpenSSH does, never auto-added silently.

Keys come from the user's ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts, kubeha's own
known_hosts, the profile's ``ssh.known_hosts`` and any ``UserKnownHostsFile`` or
``GlobalKnownHostsFile`` that the SSH config names for the host, read by
:mod:`wizard.engine.knownhosts` (``@cert-authority`` and ``@revoked`` lines included; a line it
cannot read is skipped with a warning). A key or CA that is ``@revoked`` is refused; a valid host
certificate from a trusted CA is accepted. A new key is refused unless the operator trusts it
(``--trust-new-host-keys`` or the wizard's confirmation), and is then pinned in kubeha's own file
(0600). A changed key is always refused, naming the host, both fingerprints, the file and line
that hold the old key and how to re-pin. ``StrictHostKeyChecking`` in the SSH config never
loosens any of this.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import paramiko

from wizard.engine.knownhosts import (
    CERT_SUFFIX,
    KnownHosts,
    KnownKey,
    Malformed,
    check_host_certificate,
    parse_certificate,
    read_file,
)
from wizard.errors import KubehaError
from wizard.paths import ensure_state_dir, known_hosts_file, make_private_dirs

GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


class HostKeyError(KubehaError):
    exit_code = 1


def blob_fingerprint(blob: bytes) -> str:
    """OpenSSH's form: ``SHA256:`` and the unpadded base64 of the key blob's SHA-256."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def fingerprint(key: paramiko.PKey) -> str:
    return blob_fingerprint(key.asbytes())


def known_hosts_name(host: str, port: int | None) -> str:
    """How known_hosts names an endpoint: ``host`` on port 22, else ``[host]:port``."""
    return host if port in (None, 22) else f"[{host}]:{port}"


_PIN_LOCK = threading.Lock()


def pin(host_name: str, key: paramiko.PKey, path: Path | None = None) -> None:
    """Append the key to kubeha's own known_hosts (0600), once."""
    path = path or known_hosts_file()
    with _PIN_LOCK:
        if path.parent == known_hosts_file().parent:
            ensure_state_dir()  # kubeha's state folder, as every run makes or refuses it
        else:
            make_private_dirs(path.parent)  # 0700, parents too, whatever the umask
        if path.exists():
            held, _ = read_file(path)
            if any(
                k.marker is None and k.patterns == host_name
                for k in held
                if k.blob == key.asbytes()
            ):
                return
        line = f"{host_name} {key.get_name()} {key.get_base64()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
        path.chmod(0o600)


def _bare_host(host_name: str) -> str:
    """``host`` of ``host`` or ``[host]:port`` (what a certificate's principals name)."""
    if host_name.startswith("[") and "]:" in host_name:
        return host_name[1 : host_name.index("]:")]
    return host_name


def _certificate_blob(key: paramiko.PKey) -> bytes | None:
    blob = getattr(key, "public_blob", None)
    if blob is not None and str(blob.key_type).endswith(CERT_SUFFIX):
        return bytes(blob.key_blob)
    return None


class CheckedPolicy(paramiko.MissingHostKeyPolicy):
    """Every host key decision, made the way OpenSSH makes it (paramiko is given no keys of its
    own, so it asks this policy about every key a server offers):

    a key (or a certificate's CA) in a matching ``@revoked`` line is refused, naming the file and
    line; a host certificate from a CA of a matching ``@cert-authority`` line is accepted when
    valid (refused, saying why, when not); a key known for the host is accepted; a different key
    where one is known is a changed key, always refused; a new key is refused unless
    ``confirm(host, fingerprint)`` says yes (or every new key is trusted), then pinned and told to
    ``on_pin(host, fingerprint)`` (the run log records every key pinned)."""

    def __init__(
        self,
        confirm: Callable[[str, str], bool] | None,
        trust_all_new: bool,
        on_pin: Callable[[str, str], None] | None = None,
        known: KnownHosts | None = None,
        name: str | None = None,
    ) -> None:
        self.confirm = confirm
        self.trust_all_new = trust_all_new
        self.on_pin = on_pin
        self.known = known or KnownHosts()
        self.name = name  # the known_hosts name (HostKeyAlias) when not paramiko's host[:port]

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        hostname = self.name or hostname
        blob = key.asbytes()
        fp = fingerprint(key)
        revoked = self.known.revoked(hostname, blob)
        if revoked is not None:
            raise HostKeyError(
                f"host key for {hostname} ({key.get_name()} {fp}) is REVOKED in "
                f"{revoked.where}; kubeha will not connect to it"
            )
        cert_blob = _certificate_blob(key)
        if cert_blob is not None and self._certificate_trusted(hostname, blob, cert_blob, fp):
            return
        known = self.known.for_host(hostname)
        if any(k.blob == blob for k in known):
            return
        if known:
            raise HostKeyError(changed_key_message(hostname, known, key))
        self._new_key(client, hostname, key, fp)

    def _certificate_trusted(self, hostname: str, blob: bytes, cert_blob: bytes, fp: str) -> bool:
        """True for a valid certificate of a trusted CA; False when no CA of the host signed it
        (the key is then checked as a plain key, as OpenSSH does); raises when a trusted CA
        signed it but it is not valid, or its CA is revoked."""
        try:
            cert = parse_certificate(cert_blob)
        except Malformed as exc:
            raise HostKeyError(f"host certificate of {hostname} cannot be read: {exc}") from None
        if cert.key_blob != blob:
            raise HostKeyError(f"host certificate of {hostname} is not for the key it signed with")
        revoked = self.known.revoked(hostname, cert.ca_blob)
        if revoked is not None:
            raise HostKeyError(
                f"host certificate of {hostname} is signed by a CA that is REVOKED in "
                f"{revoked.where}; kubeha will not connect to it"
            )
        cas = [k for k in self.known.for_host(hostname, "cert-authority") if k.blob == cert.ca_blob]
        if not cas:
            return False
        ok, why = check_host_certificate(cert, _bare_host(hostname))
        if not ok:
            raise HostKeyError(
                f"host certificate of {hostname} ({fp}, id {cert.key_id!r}) from the CA in "
                f"{cas[0].where} is refused: {why}"
            )
        return True

    def _new_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey, fp: str
    ) -> None:
        trusted = self.trust_all_new
        if not trusted and self.confirm is not None:
            try:
                trusted = bool(self.confirm(hostname, fp))
            except Exception:  # a confirmation that fails is a "no", never a crash
                trusted = False
        if not trusted:
            raise HostKeyError(
                f"host key for {hostname} is not known ({key.get_name()} {fp}); "
                "check it out of band, then re-run with --trust-new-host-keys (or accept it in "
                "the wizard) to pin it"
            )
        pin(hostname, key)
        if self.on_pin is not None:
            self.on_pin(hostname, f"{key.get_name()} {fp}")


def known_hosts_files(extra: str | None, ssh_config_files: Iterable[str] = ()) -> list[Path]:
    """Every known_hosts file kubeha trusts for a host, in the order they are read."""
    files = [
        Path.home() / ".ssh" / "known_hosts",
        GLOBAL_KNOWN_HOSTS,
        known_hosts_file(),
    ]
    if extra:
        files.append(Path(extra).expanduser())
    for name in ssh_config_files:
        if name and name.lower() != "none":
            files.append(Path(name).expanduser())
    unique: list[Path] = []
    for path in files:
        if path not in unique:
            unique.append(path)
    return unique


def load_known_hosts(extra: str | None, ssh_config_files: Iterable[str] = ()) -> KnownHosts:
    """Every trusted known_hosts file, read by kubeha (never by paramiko, never rewritten)."""
    return KnownHosts.load(known_hosts_files(extra, ssh_config_files))


def changed_key_message(host_name: str, known: list[KnownKey], offered: paramiko.PKey) -> str:
    same_type = [k for k in known if k.key_type == offered.get_name()] or known
    old = same_type[0]
    holders = list(dict.fromkeys(k.path for k in same_type))
    removals = "; ".join(
        f"ssh-keygen -R {shlex.quote(host_name)} -f {shlex.quote(str(path))}" for path in holders
    )
    return (
        f"host key for {host_name} has CHANGED: known {old.key_type} {blob_fingerprint(old.blob)} "
        f"(in {', '.join(k.where for k in same_type)}), offered "
        f"{offered.get_name()} {fingerprint(offered)}. This may be an attack or a reinstalled "
        f"node. If the node was reinstalled, check the new fingerprint out of band, remove the "
        f"old entry ({removals}), then re-run with --trust-new-host-keys to pin the new one"
    )
