"""Host keys checked like OpenSSH does, never auto-added silently.

Keys come from the user's ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts, kubeha's own
known_hosts, the profile's ``ssh.known_hosts`` and any ``UserKnownHostsFile`` that ~/.ssh/config
names for the host. A new key is refused unless the operator trusts it (``--trust-new-host-keys``
or the wizard's confirmation), and is then pinned in kubeha's own file (0600). A changed key is
always refused, naming the host, both fingerprints, the file that holds the old key and how to
re-pin. ``StrictHostKeyChecking`` in ~/.ssh/config never loosens any of this.
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

from wizard.errors import KubehaError
from wizard.paths import ensure_state_dir, known_hosts_file, make_private_dirs

GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


class HostKeyError(KubehaError):
    exit_code = 1


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: ``SHA256:`` and the unpadded base64 of the key's SHA-256."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


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
        keys = paramiko.HostKeys()
        if path.exists():
            keys.load(str(path))
        if keys.check(host_name, key):
            return
        line = f"{host_name} {key.get_name()} {key.get_base64()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
        path.chmod(0o600)


class CheckedPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown keys unless ``confirm(host, fingerprint)`` says yes; then pin them and
    tell ``on_pin(host, fingerprint)`` (the run log records every key pinned)."""

    def __init__(
        self,
        confirm: Callable[[str, str], bool] | None,
        trust_all_new: bool,
        on_pin: Callable[[str, str], None] | None = None,
    ) -> None:
        self.confirm = confirm
        self.trust_all_new = trust_all_new
        self.on_pin = on_pin

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fp = fingerprint(key)
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
        client.get_host_keys().add(hostname, key.get_name(), key)
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


def load_known_hosts(
    client: paramiko.SSHClient, extra: str | None, ssh_config_files: Iterable[str] = ()
) -> list[Path]:
    """Load every trusted known_hosts file; none of them is ever rewritten by paramiko.

    Returns the files read (for messages that say where an old key lives)."""
    files = known_hosts_files(extra, ssh_config_files)
    for path in files:
        if path.is_file():
            try:
                client.load_system_host_keys(str(path))
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise HostKeyError(f"{path}: cannot read known_hosts: {exc}") from None
    return files


def files_holding(host_name: str, files: Iterable[Path]) -> list[Path]:
    """The known_hosts files that hold a key for ``host_name`` (hashed names included)."""
    holding = []
    for path in files:
        if not path.is_file():
            continue
        keys = paramiko.HostKeys()
        try:
            keys.load(str(path))
        except (OSError, paramiko.SSHException, ValueError):
            continue
        if keys.lookup(host_name) is not None:
            holding.append(path)
    return holding


def changed_key_message(
    exc: paramiko.BadHostKeyException, host_name: str, files: Iterable[Path] = ()
) -> str:
    holders = files_holding(host_name, files) or [known_hosts_file()]
    removals = "; ".join(
        f"ssh-keygen -R {shlex.quote(host_name)} -f {shlex.quote(str(path))}" for path in holders
    )
    return (
        f"host key for {host_name} has CHANGED: known {exc.expected_key.get_name()} "
        f"{fingerprint(exc.expected_key)} (in {', '.join(str(p) for p in holders)}), offered "
        f"{exc.key.get_name()} {fingerprint(exc.key)}. This may be an attack or a reinstalled "
        f"node. If the node was reinstalled, check the new fingerprint out of band, remove the "
        f"old entry ({removals}), then re-run with --trust-new-host-keys to pin the new one"
    )
