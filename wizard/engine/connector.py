"""Turn a profile's node into an open RemoteNode: the SSH target from the profile's per-node
overrides, its [ssh] section and ~/.ssh/config, host keys checked, jump hosts shared.

Whatever the profile leaves empty comes from the SSH config, as the operator's ``ssh`` would take
it (``ssh -G``, :mod:`.sshconf`): a ``Host`` entry for the node's *name* that sets a HostName is
used for that node (``Host m1`` /
``HostName 10.0.0.11`` / ``User ops`` / ``ProxyJump bastion``); otherwise the node's address is
looked up (``Host 10.0.0.*``). The profile's ``ssh.bastion`` replaces any ProxyJump.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fabric import Connection

from wizard.engine.events import Event, Status
from wizard.engine.knownhosts import KnownHosts
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.phase import PhaseName
from wizard.engine.remote import RemoteNode
from wizard.engine.sshconf import resolve as resolve_ssh
from wizard.engine.transport import (
    GatewayPool,
    SshDestination,
    SshTransport,
    TransportError,
    checked_connection,
)
from wizard.profile import Profile
from wizard.validation import BASTION_RE


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None


def ssh_host(profile: Profile, name: str) -> str:
    """The host to connect to for node ``name``: its ssh.host, else its name when the SSH
    config maps that name to a HostName, else its address."""
    node = profile.node(name)
    if node.ssh.host:
        return node.ssh.host
    found = resolve_ssh(name).hostname
    return name if found != name else node.address


def ssh_destination(profile: Profile, name: str) -> SshDestination:
    """Where and how to reach node ``name``: its overrides, then the profile's [ssh]."""
    node = profile.node(name)
    ssh = profile.ssh
    return SshDestination(
        label=name,
        host=ssh_host(profile, name),
        port=node.ssh.port or ssh.port,
        user=node.ssh.user or ssh.user,
        key_file=_expand(ssh.key_file),
        known_hosts=_expand(ssh.known_hosts),
        sudo=ssh.sudo,
        bastion=ssh.bastion,
    )


def split_bastion(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` -> (user, host, port)."""
    match = BASTION_RE.match(spec.strip())
    if match is None:
        raise TransportError(f"jump host {spec!r}: expected [user@]host[:port]")
    port = match.group("port")
    return match.group("user"), match.group("host").strip("[]"), int(port) if port else None


RESOLVE_THREADS = 16  # ssh -G runs a process per host: a fleet's are asked side by side


def identity_files(profile: Profile) -> list[str]:
    """Every private key file kubeha may offer: the profile's, then the IdentityFile list the
    SSH config gives each node and each jump host (existing files only, each once).

    Each distinct host is resolved once (its jump hosts and identities come from the same
    answer), the hosts side by side: with ``ssh -G`` a process per host, asked one after the
    other, took 19 ms a node here, minutes for a fleet of thousands before the first connect."""
    key_file = _expand(profile.ssh.key_file)
    found: list[str] = [key_file] if key_file else []

    def settings(host: str, user: str | None, port: int | None):
        return resolve_ssh(host, user, port, key_file)

    def node_host(node) -> tuple[str, str | None, int | None]:
        user = node.ssh.user or profile.ssh.user
        return ssh_host(profile, node.name), user, node.ssh.port or profile.ssh.port

    with ThreadPoolExecutor(RESOLVE_THREADS) as pool:
        hosts = list(dict.fromkeys(pool.map(node_host, profile.all_nodes())))
        answers = dict(zip(hosts, pool.map(lambda h: settings(*h), hosts), strict=True))
        hops: list[tuple[str, str | None, int | None]] = []
        for host in hosts:
            jump = profile.ssh.bastion or answers[host].proxy_jump or ""
            for hop in jump.split(","):
                if hop.strip() and hop.strip().lower() != "none":
                    try:
                        hop_user, hop_host, hop_port = split_bastion(hop)
                    except TransportError:
                        continue
                    hops.append((hop_host, hop_user, hop_port))
        hops = [h for h in dict.fromkeys(hops) if h not in answers]
        answers.update(zip(hops, pool.map(lambda h: settings(*h), hops), strict=True))
    for answer in answers.values():
        found.extend(answer.identity_files)
    return [p for p in dict.fromkeys(found) if Path(p).is_file()]


class SshConnector:
    """Opens nodes for one run; each jump host is opened once and shared.

    With ``emit``, a new host key waiting for the operator's answer is shown in the node's pane
    (a ``hostkey`` event naming the host and fingerprint), and every key pinned is recorded in
    the run's events, the jump host's under the node whose connection opened it."""

    def __init__(
        self,
        profile: Profile,
        options: ApplyOptions,
        secrets: Secrets,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.profile = profile
        self.options = options
        self.secrets = secrets
        self.gateways = GatewayPool(self._gateway)
        self._emit = emit
        self._local = threading.local()  # which node this worker thread is connecting
        self._warned: set[str] = set()  # each known_hosts warning is shown once per run
        self._warn_lock = threading.Lock()

    def _announce(self, status: Status, message: str) -> None:
        if self._emit is not None:
            self._emit(
                Event(getattr(self._local, "node", None), PhaseName.CONNECT, status, message)
            )

    def _confirm(self, host: str, fp: str) -> bool:
        confirm = self.options.confirm_host_key
        if confirm is None:
            return False
        self._announce(Status.HOSTKEY, f"{host} offers a host key not seen before: {fp}; trust it?")
        trusted = bool(confirm(host, fp))
        if not trusted:
            self._announce(Status.INFO, f"{host}: host key {fp} refused by the operator")
        return trusted

    def _pinned(self, host: str, key: str) -> None:
        self._announce(Status.INFO, f"{host}: new host key {key} trusted and pinned")

    def _warning(self, text: str) -> None:
        with self._warn_lock:
            if text in self._warned:
                return
            self._warned.add(text)
        self._announce(Status.INFO, f"warning: {text}")

    def _policy_kwargs(self) -> dict:
        return {
            "confirm_host_key": self._confirm if self.options.confirm_host_key else None,
            "trust_new_host_keys": self.options.trust_new_host_keys,
            "on_pin": self._pinned,
            "on_warning": self._warning,
        }

    def _gateway(self, spec: str) -> tuple[Connection, KnownHosts]:
        """An unopened, host-key-checked connection to one jump host."""
        user, host, port = split_bastion(spec)
        return checked_connection(
            host,
            user=user,
            port=port,
            key_file=_expand(self.profile.ssh.key_file),
            passphrase=self.secrets.passphrase,
            known_hosts=_expand(self.profile.ssh.known_hosts),
            timeout=self.options.connect_timeout,
            **self._policy_kwargs(),
        )

    def __call__(self, name: str) -> Callable[[], RemoteNode]:
        def open_node() -> RemoteNode:
            self._local.node = name
            transport = SshTransport(
                ssh_destination(self.profile, name),
                passphrase=self.secrets.passphrase,
                sudo_password=self.secrets.sudo_password,
                connect_timeout=self.options.connect_timeout,
                gateways=self.gateways,
                **self._policy_kwargs(),
            )
            try:
                transport.open()
            except BaseException:
                transport.close()
                raise
            finally:
                self._local.node = None
            return RemoteNode(transport)

        return open_node

    def close(self) -> None:
        self.gateways.close()
