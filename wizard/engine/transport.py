"""How the engine talks to a node: a Transport runs an argv and moves bytes.

``SshTransport`` is the real one: fabric underneath, with fabric's own habits switched off where
they are unsafe. Host keys are checked (never fabric's AutoAdd, not even for a jump host),
the SSH config is resolved as the operator's OpenSSH resolves it (``ssh -G``, see
:mod:`.sshconf`: HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump, ProxyCommand,
UserKnownHostsFile, GlobalKnownHostsFile, through Include and Match) unless the profile overrides
it, and a bastion is opened once per run by
:class:`GatewayPool` and shared by every node's connection, with a timeout on every hop.

Privilege is settled when the node is opened: root runs commands as they are; any other login
runs them through ``sudo -n`` where sudo needs no password, or through ``sudo -k -S -p ''`` with
the password written to the command's stdin (never on a command line, so ``ps`` on the node never
shows it). A wrong or missing sudo password fails that node at once with a sentence, never a
hang. Every argv is quoted with ``shlex.join``: no profile text is pasted into a shell string.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shlex
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import invoke
import paramiko
from fabric import Config, Connection
from fabric.connection import derive_shorthand

from wizard.command_result import CommandResult
from wizard.engine.hostkeys import (
    CheckedPolicy,
    HostKeyError,
    changed_key_message,
    known_hosts_name,
    load_known_hosts,
)
from wizard.engine.knownhosts import CERT_SUFFIX, KnownHosts
from wizard.engine.sshconf import SshSettings
from wizard.engine.sshconf import resolve as resolve_ssh
from wizard.errors import KubehaError

# paramiko logs its own tracebacks at ERROR level; kubeha reports every failure itself, once,
# as a sentence. Without this, Python's last-resort handler would print them to the terminal.
for _name in ("paramiko", "invoke", "fabric"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(logging.NullHandler())
    _logger.propagate = False


class _WholeStdin(io.StringIO):
    """What a command reads on stdin, handed to invoke in one piece. invoke reads a stream
    that is not a terminal one byte per pass of its stdin loop, which sleeps 10 ms each pass:
    about 100 bytes a second (a kubectl patch of 1.2 kB took 12 s)."""

    def read(self, size: int | None = -1) -> str:
        return super().read(-1)


SUDO_CHECK_TIMEOUT = 30.0  # a wrong password costs sudo ~2 s (PAM's delay); never more than this
SFTP_TIMEOUT = 120.0  # seconds without progress before an upload counts as lost
MAX_JUMPS = 5  # ProxyJump chains longer than this are refused (and loops are caught by it)

# What sudo says when it will not run a command. Matched on stderr, lower-cased.
_SUDO_NEEDS_PASSWORD = ("a password is required", "a terminal is required")
_SUDO_WRONG_PASSWORD = ("incorrect password", "sorry, try again", "no password was provided")
_SUDO_NOT_ALLOWED = ("is not in the sudoers file", "is not allowed to", "may not run sudo")
_SUDO_NEEDS_TTY = ("you must have a tty",)

# The login user's private upload folder for one connection, and the sweep of the ones that
# connections which dropped before their close could remove them left behind (a master cut
# mid-apply). A folder is kubeha's only when all of this holds: its name is mktemp's
# /tmp/.kubeha-XXXXXXXXXX, it is a real folder (no link) owned by the login user, mode 0700,
# and it holds the mark ``STAGING_MARK`` (a regular file) naming the sshd session that made it
# (its PID and start time, from /proc: the shell's parent is the connection's sshd). It is stale
# when that session no longer runs (no such process, or another one under a reused PID); a
# session that still runs keeps its folder, whatever its age. Anything else in /tmp is never
# looked into. Runs as the login user (never sudo): it can remove nothing the user could not;
# ``exec`` keeps sh the sshd's own child, so $PPID is the session.
STAGING_MARK = ".kubeha-staging"
_SESSION = "$(sed 's/.*) //' /proc/$PPID/stat | cut -d' ' -f20)"  # start time, field 22
_STAGING = f"""umask 077 || exit 1
me=$(id -u) || exit 1
d=$(mktemp -d /tmp/.kubeha-XXXXXXXXXX) || exit 1
printf '%s %s\\n' "$PPID" "{_SESSION}" > "$d/{STAGING_MARK}" || exit 1
for o in /tmp/.kubeha-??????????; do
  m="$o/{STAGING_MARK}"
  [ "$o" != "$d" ] && [ -d "$o" ] && [ ! -L "$o" ] && [ -f "$m" ] && [ ! -L "$m" ] || continue
  [ "$(stat -c '%u %a' "$o" 2>/dev/null)" = "$me 700" ] || continue
  read -r p t < "$m" 2>/dev/null || continue
  case "$p:$t" in *[!0-9:]*|:*|*:) continue;; esac
  [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20)" = "$t" ] && continue
  rm -rf -- "$o" && echo "swept $o" >&2
done
echo "$d"
"""

# Run once on connect: who we are, and whether sudo works without a password. Fixed text.
_WHOAMI = 'echo "uid=$(id -u)"; if [ "$(id -u)" != 0 ]; then sudo -n true 2>&1; echo "sudo=$?"; fi'


class TransportError(KubehaError):
    """The node could not be reached or authenticated; the text says why."""

    exit_code = 1


class Transport(Protocol):
    label: str

    def run(
        self, argv: Sequence[str], *, timeout: float = 120, stdin: str | None = None
    ) -> CommandResult: ...

    def put(self, data: bytes, path: str, mode: int) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SshDestination:
    """Where and how to reach one node, resolved from the profile (whose per-node overrides
    are ``wizard.profile.SshTarget``); None fields fall back to ~/.ssh/config."""

    label: str  # the node name, for messages
    host: str
    port: int | None
    user: str | None
    key_file: str | None
    known_hosts: str | None
    sudo: bool  # kept for the record: any login that is not root uses sudo
    bastion: str | None = None  # [user@]host[:port]; overrides ~/.ssh/config's ProxyJump


def no_ssh_config() -> Config:
    """A fabric Config that reads no SSH config: kubeha resolves it (:mod:`.sshconf`)."""
    return Config(overrides={"load_ssh_configs": False})


def connect_kwargs(
    key_file: str | None,
    passphrase: str | None,
    timeout: float,
    settings: SshSettings | None = None,
) -> dict[str, object]:
    """paramiko's connect arguments: the profile's key, then the identity files OpenSSH would
    offer (existing ones); ssh-agent's keys only without ``IdentitiesOnly yes`` (with it, only
    the agent's copy of a named identity, as OpenSSH does)."""
    identities_only = settings is not None and settings.identities_only
    files = [key_file] if key_file else []
    if settings is not None:
        files += [p for p in settings.identity_files if Path(p).is_file()]
    kwargs: dict[str, object] = {
        "allow_agent": not identities_only,
        "look_for_keys": settings is None,  # with settings, its identity files are the list
        "banner_timeout": timeout,
        "auth_timeout": timeout,
        "channel_timeout": timeout,
    }
    if files:
        kwargs["key_filename"] = list(dict.fromkeys(files))
        if identities_only:
            pkey = agent_identity(list(dict.fromkeys(files)))
            if pkey is not None:
                kwargs["pkey"] = pkey  # tried first; its agent is closed once connected
    if passphrase:
        kwargs["passphrase"] = passphrase
    return kwargs


def agent_identity(files: Sequence[str]) -> paramiko.PKey | None:
    """ssh-agent's key for the first identity file whose ``.pub`` it holds: with
    ``IdentitiesOnly yes`` OpenSSH still lets the agent sign for a named identity (an encrypted
    key file then needs no passphrase). None without an agent or such a key."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    wanted = []
    for path in files:
        try:
            words = Path(path + ".pub").read_text(encoding="utf-8").split()
        except (OSError, UnicodeDecodeError):
            continue
        if len(words) >= 2:
            wanted.append(words[1])
    if not wanted:
        return None
    try:
        agent = paramiko.Agent()
        held = {key.get_base64(): key for key in agent.get_keys()}
    except (paramiko.SSHException, OSError):
        return None
    for blob in wanted:
        if blob in held:
            return held[blob]
    agent.close()
    return None


class _OrderedTransport(paramiko.Transport):
    """A client Transport that asks for some host key algorithms first (``first_keys``)."""

    first_keys: tuple[str, ...] = ()

    @property
    def preferred_keys(self):
        base = tuple(super().preferred_keys)
        first = [k for k in self.first_keys if k in base]
        return tuple(dict.fromkeys(first + list(base)))


def host_key_order(known: KnownHosts, host_name: str) -> tuple[str, ...]:
    """OpenSSH's order: certificates first when a ``@cert-authority`` line names the host, then
    the types of the keys known for it, then the rest."""
    first: list[str] = []
    if known.has_ca(host_name):
        certs = (k + CERT_SUFFIX for k in paramiko.Transport._preferred_keys)
        first += [k for k in certs if k in paramiko.Transport._key_info]
    for key_type in known.key_types(host_name):
        first += ["rsa-sha2-512", "rsa-sha2-256"] if key_type == "ssh-rsa" else [key_type]
    return tuple(first)


def _transport_factory(order: tuple[str, ...]) -> Callable[..., paramiko.Transport]:
    def make(sock, **kwargs) -> paramiko.Transport:
        transport = _OrderedTransport(sock, **kwargs)
        transport.first_keys = order
        return transport

    return make


def checked_connection(
    host: str,
    *,
    user: str | None,
    port: int | None,
    key_file: str | None,
    passphrase: str | None,
    known_hosts: str | None,
    confirm_host_key: Callable[[str, str], bool] | None,
    trust_new_host_keys: bool,
    timeout: float,
    on_pin: Callable[[str, str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[Connection, KnownHosts]:
    """A fabric Connection to ``host`` as OpenSSH would reach it (``ssh -G``), host keys checked
    by kubeha, no gateway of fabric's own choosing. ``user``/``port`` (the profile's) win over
    the SSH config, as ``ssh -l``/``-p`` do.

    Returns the connection and what its known_hosts files say."""
    settings = resolve_ssh(host, user, port, key_file)
    connection = Connection(
        settings.hostname,
        user=settings.user,
        port=settings.port,
        config=no_ssh_config(),
        connect_kwargs=connect_kwargs(key_file, passphrase, timeout, settings),
        connect_timeout=int(max(1, timeout)),
        gateway=False,  # kubeha resolves ProxyJump itself: fabric's hops would AutoAdd keys
    )
    connection.original_host = host
    connection.ssh_config = settings.as_dict()
    known = load_known_hosts(known_hosts, settings.known_hosts_files)
    if on_warning is not None:
        for warning in known.warnings:
            on_warning(warning)
    name = settings.host_key_alias or known_hosts_name(connection.host, connection.port)
    connection.connect_kwargs["transport_factory"] = _transport_factory(host_key_order(known, name))
    policy = CheckedPolicy(confirm_host_key, trust_new_host_keys, on_pin, known, name)
    connection.client.set_missing_host_key_policy(policy)
    return connection, known


def jump_spec(connection: Connection, override: str | None) -> str | None:
    """The ProxyJump to use: the profile's bastion, else ~/.ssh/config's, else None."""
    if override:
        return override
    value = str(connection.ssh_config.get("proxyjump", "")).strip()
    return None if not value or value.lower() == "none" else value


def proxy_command(connection: Connection) -> str | None:
    value = str(connection.ssh_config.get("proxycommand", "")).strip()
    return None if not value or value.lower() == "none" else value


def describe_error(
    exc: BaseException, who: str, host_name: str, known: KnownHosts | None = None
) -> KubehaError:
    """One sentence for anything that went wrong while opening an SSH connection."""
    if isinstance(exc, KubehaError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        held = (known or KnownHosts()).for_host(host_name)
        if held:
            return HostKeyError(f"{who}: " + changed_key_message(host_name, held, exc.key))
        return HostKeyError(f"{who}: host key for {host_name} has CHANGED")
    if isinstance(exc, paramiko.PasswordRequiredException):
        return TransportError(
            f"{who}: the private key is encrypted and no passphrase was given "
            "(set KUBEHA_SSH_PASSPHRASE, or run interactively to be asked)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return TransportError(
            f"{who}: authentication failed ({exc}): the node refused every key offered; "
            "check the user, key file, passphrase or agent"
        )
    if isinstance(exc, paramiko.ChannelException):
        return TransportError(f"{who}: the jump host could not reach it ({exc.text})")
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "banner" in text or "No existing session" in text:
            return TransportError(
                f"{who}: no SSH server answered (timed out waiting for its banner)"
            )
        if "Timeout opening channel" in text:
            return TransportError(f"{who}: the jump host did not reach it in time")
        return TransportError(f"{who}: SSH error: {text}")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = sorted({(e.strerror or str(e)).lower() for e in exc.errors.values()})
        return TransportError(f"{who}: cannot connect: {'; '.join(reasons) or exc}")
    if isinstance(exc, TimeoutError):
        return TransportError(f"{who}: connection timed out")
    if isinstance(exc, OSError):
        return TransportError(f"{who}: cannot connect: {exc.strerror or exc}")
    if isinstance(exc, EOFError):
        return TransportError(f"{who}: the connection closed while connecting")
    return TransportError(f"{who}: cannot connect: {type(exc).__name__}: {exc}")


def open_checked(connection: Connection, who: str, known: KnownHosts) -> None:
    """``connection.open()`` with every failure turned into a HostKeyError or TransportError."""
    name = known_hosts_name(connection.host, connection.port)
    try:
        connection.open()
    except Exception as exc:
        raise describe_error(exc, who, name, known) from None
    finally:
        pkey = connection.connect_kwargs.get("pkey")
        if isinstance(pkey, paramiko.AgentKey):
            with contextlib.suppress(Exception):  # authentication is over either way
                pkey.agent.close()


class GatewayPool:
    """Jump hosts for one run: each opened once, shared by every node, thread-safe.

    ``factory(spec)`` returns an unopened checked Connection and its known hosts for a
    ``[user@]host[:port]`` spec. A hop that failed stays failed for the run (every node gets the
    same reason at once); a hop whose connection dropped is opened again on next use."""

    def __init__(self, factory: Callable[[str], tuple[Connection, KnownHosts]]) -> None:
        self._factory = factory
        self._lock = threading.RLock()
        self._gateways: dict[str, Connection] = {}
        self._failed: dict[str, KubehaError] = {}

    def get(self, spec: str, timeout: float, depth: int = 0) -> Connection:
        """The open connection to jump host ``spec`` (a comma list is a chain, first hop first)."""
        hops = [h.strip() for h in spec.split(",") if h.strip()]
        if not hops or len(hops) + depth > MAX_JUMPS:
            raise TransportError(f"jump host {spec!r}: more than {MAX_JUMPS} hops (a loop?)")
        with self._lock:
            if spec in self._failed:
                raise self._failed[spec]
            gateway = self._gateways.get(spec)
            if gateway is not None and gateway.is_connected:
                return gateway
            try:
                gateway = self._open(hops, timeout, depth)
            except KubehaError as exc:
                self._failed[spec] = exc
                raise
            self._gateways[spec] = gateway
            return gateway

    def _open(self, hops: list[str], timeout: float, depth: int) -> Connection:
        connection, trusted = self._factory(hops[-1])
        who = f"jump host {connection.user}@{known_hosts_name(connection.host, connection.port)}"
        before = ",".join(hops[:-1]) or jump_spec(connection, None)
        if before and not hops[:-1]:
            # A "Host *" ProxyJump names the jump host itself: it is reached directly, as fabric
            # and OpenSSH's own examples do, not through itself.
            first = derive_shorthand(before.split(",")[-1].strip())["host"]
            if first in (connection.original_host, connection.host):
                before = None
        if before:
            previous = self.get(before, timeout, depth + 1)
            connection.connect_kwargs["sock"] = self.channel(
                previous, connection.host, connection.port, timeout, who
            )
        elif proxy_command(connection):
            connection.gateway = proxy_command(connection)
        open_checked(connection, who, trusted)
        return connection

    @staticmethod
    def channel(
        gateway: Connection, host: str, port: int, timeout: float, who: str
    ) -> paramiko.Channel:
        """A direct-tcpip channel through ``gateway`` to ``host:port``, within ``timeout``."""
        try:
            transport = gateway.transport
            if transport is None or not transport.is_active():
                raise paramiko.SSHException("the jump host's connection is closed")
            return transport.open_channel(
                "direct-tcpip", dest_addr=(host, int(port)), src_addr=("", 0), timeout=timeout
            )
        except paramiko.ChannelException as exc:
            raise TransportError(
                f"{who}: the jump host could not reach {host}:{port} ({exc.text})"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{who}: no channel through the jump host: {exc}") from None

    def close(self) -> None:
        with self._lock:
            for gateway in reversed(list(self._gateways.values())):
                with contextlib.suppress(Exception):  # closing must not fail the run
                    gateway.close()
            self._gateways.clear()


class SshTransport:
    def __init__(
        self,
        target: SshDestination,
        *,
        passphrase: str | None = None,
        sudo_password: str | None = None,
        confirm_host_key=None,
        trust_new_host_keys: bool = False,
        connect_timeout: float = 10.0,
        gateways: GatewayPool | None = None,
        on_pin: Callable[[str, str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.label = target.label
        self.target = target
        self._sudo_password = sudo_password
        self._timeout = connect_timeout
        self._gateways = gateways
        self.connection, self._trusted = checked_connection(
            target.host,
            user=target.user,
            port=target.port,
            key_file=target.key_file,
            passphrase=passphrase,
            known_hosts=target.known_hosts,
            confirm_host_key=confirm_host_key,
            trust_new_host_keys=trust_new_host_keys,
            timeout=connect_timeout,
            on_pin=on_pin,
            on_warning=on_warning,
        )
        self.jump = jump_spec(self.connection, target.bastion)
        # "root", "nopasswd" or "password": how commands get root, settled by open()
        self.privilege: str | None = None
        self._staging: str | None = None  # the login user's private upload folder, once made
        self._sudo_prompt = f"[kubeha-sudo-{uuid.uuid4().hex[:12]}]"  # never a command's output

    @property
    def endpoint(self) -> str:
        c = self.connection
        via = f" via {self.jump}" if self.jump else ""
        return f"{c.user}@{known_hosts_name(c.host, c.port)}{via}"

    def open(self) -> None:
        """Connect (through the jump host, if any), check the host key, settle sudo."""
        if self.jump:
            if self._gateways is None:
                raise TransportError(f"{self.endpoint}: a jump host is needed but none was set up")
            gateway = self._gateways.get(self.jump, self._timeout)
            self.connection.connect_kwargs["sock"] = GatewayPool.channel(
                gateway, self.connection.host, self.connection.port, self._timeout, self.endpoint
            )
        elif proxy_command(self.connection):
            self.connection.gateway = proxy_command(self.connection)
        open_checked(self.connection, self.endpoint, self._trusted)
        self.privilege = self._settle_privilege()

    # --- privilege ---------------------------------------------------------------------------

    def _settle_privilege(self) -> str:
        result = self._raw(_WHOAMI, timeout=SUDO_CHECK_TIMEOUT)
        words = dict(
            line.split("=", 1)
            for line in result.stdout.splitlines()
            if line.startswith(("uid=", "sudo="))
        )
        if words.get("uid") == "0":
            return "root"
        if "uid" not in words:
            raise TransportError(
                f"{self.endpoint}: cannot run commands on the node: {self._tail(result)}"
            )
        if words.get("sudo") == "0":
            return "nopasswd"
        said = result.stdout.lower()
        if any(s in said for s in _SUDO_NOT_ALLOWED) or "sudo: not found" in said:
            raise TransportError(
                f"{self.endpoint}: {self.connection.user} may not use sudo on this node "
                f"({self._sudo_line(result.stdout)}); kubeha needs root or sudo"
            )
        if any(s in said for s in _SUDO_NEEDS_TTY):
            raise TransportError(
                f"{self.endpoint}: sudo on this node insists on a terminal (Defaults requiretty); "
                "allow it without one for this user"
            )
        if not self._sudo_password:
            raise TransportError(
                f"{self.endpoint}: sudo on this node needs a password: run with "
                "--ask-sudo-password or set KUBEHA_SUDO_PASSWORD"
            )
        check = self._raw(
            "sudo -k -S -p '' -- true",
            stdin=self._sudo_password + "\n",
            timeout=SUDO_CHECK_TIMEOUT,
        )
        if check.ok:
            return "password"
        text = (check.stdout + check.stderr).lower()
        if check.returncode == 124:
            raise TransportError(
                f"{self.endpoint}: sudo did not answer within {SUDO_CHECK_TIMEOUT:.0f} s"
            )
        if any(s in text for s in _SUDO_NOT_ALLOWED):
            raise TransportError(
                f"{self.endpoint}: {self.connection.user} may not use sudo on this node"
            )
        raise TransportError(f"{self.endpoint}: sudo refused: wrong sudo password")

    @staticmethod
    def _sudo_line(text: str) -> str:
        lines = [x.strip() for x in text.splitlines() if x.strip().startswith("sudo")]
        return lines[0] if lines else "sudo refused"

    @staticmethod
    def _tail(result: CommandResult) -> str:
        lines = result.output_lines(3)
        return " / ".join(lines) if lines else f"exit {result.returncode}"

    # --- commands ----------------------------------------------------------------------------

    def _wrap(
        self, argv: Sequence[str], stdin: str | None
    ) -> tuple[str, str | None, list[invoke.Responder]]:
        """(the command line, what goes to its stdin first, who answers sudo's prompt)."""
        command = shlex.join(argv)
        if self.privilege in (None, "root"):
            return command, stdin, []
        if self.privilege == "nopasswd":
            return f"sudo -n -- {command}", stdin, []
        password = (self._sudo_password or "") + "\n"
        if stdin is None:
            # sudo prints our marker as its prompt (on stderr) only when it wants the password;
            # the responder writes it to stdin then, and only then. Credentials sudo has cached
            # for this connection are used as they are: nothing is written at all.
            prompt = self._sudo_prompt
            responder = invoke.Responder(pattern=re.escape(prompt), response=password)
            return f"sudo -S -p {shlex.quote(prompt)} -- {command}", None, [responder]
        # The command reads stdin too: -k makes sudo ask every time, so the first line (the
        # password) is always sudo's and the rest the command's.
        return f"sudo -k -S -p '' -- {command}", password + stdin, []

    def _raw(
        self,
        command: str,
        *,
        timeout: float,
        stdin: str | None = None,
        watchers: Sequence[invoke.StreamWatcher] = (),
    ) -> CommandResult:
        """Run a shell command line as the login user."""
        try:
            result = self.connection.run(
                command,
                hide=True,
                warn=True,
                timeout=timeout,
                in_stream=_WholeStdin(stdin) if stdin else False,
                watchers=list(watchers),
            )
        except invoke.exceptions.CommandTimedOut:
            return CommandResult((command,), 124, "", f"timed out after {timeout:.0f}s")
        except invoke.exceptions.ThreadException as exc:
            inner = exc.exceptions[0].value if exc.exceptions else exc
            raise TransportError(f"{self.endpoint}: connection lost: {inner}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.endpoint}: connection lost: {exc}") from None
        return CommandResult((command,), result.exited, result.stdout, result.stderr)

    def run(
        self, argv: Sequence[str], *, timeout: float = 120, stdin: str | None = None
    ) -> CommandResult:
        command, data, watchers = self._wrap(argv, stdin)
        result = self._raw(command, timeout=timeout, stdin=data, watchers=watchers)
        stderr = result.stderr
        if watchers:
            asked = stderr.count(self._sudo_prompt)
            stderr = stderr.replace(self._sudo_prompt, "")
            if asked > 1 or (asked and result.returncode == 1 and self._refused(stderr)):
                raise TransportError(f"{self.endpoint}: sudo refused: wrong sudo password")
        lowered = stderr.lower()
        if self.privilege == "nopasswd" and any(s in lowered for s in _SUDO_NEEDS_PASSWORD):
            raise TransportError(f"{self.endpoint}: sudo started asking for a password")
        if self.privilege == "password" and result.returncode == 1 and self._refused(stderr):
            raise TransportError(f"{self.endpoint}: sudo refused: wrong sudo password")
        return CommandResult(tuple(argv), result.returncode, result.stdout, stderr)

    @staticmethod
    def _refused(stderr: str) -> bool:
        lowered = stderr.lower()
        return any(s in lowered for s in _SUDO_WRONG_PASSWORD) and "sudo" in lowered

    def put(self, data: bytes, path: str, mode: int) -> None:
        """Write ``data`` to ``path`` (owned by root, ``mode``). The bytes go first to a file in
        a private folder of the login user (0700, made once per connection), then ``install``
        puts them in place: nobody else on the node can read them on the way."""
        staging = f"{self._staging_dir()}/{uuid.uuid4().hex}"
        try:
            sftp = self.connection.sftp()
            sftp.get_channel().settimeout(SFTP_TIMEOUT)  # a node that vanishes mid-upload
            with sftp.open(staging, "wxb") as handle:
                handle.chmod(0o600)
                handle.write(data)
            result = self.run(
                ["install", "-m", f"{mode:o}", "-o", "root", "-g", "root", staging, path]
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.endpoint}: upload of {path} failed: {exc}") from None
        finally:
            with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
                self.connection.sftp().remove(staging)
        if not result.ok:
            raise TransportError(f"{self.endpoint}: cannot install {path}: {result.stderr.strip()}")

    def _staging_dir(self) -> str:
        if self._staging is None:
            made = self._raw(f"exec sh -c {shlex.quote(_STAGING)}", timeout=30)
            folder = made.stdout.strip()
            if not made.ok or not folder.startswith("/tmp/.kubeha-"):
                raise TransportError(
                    f"{self.endpoint}: cannot make a private upload folder in /tmp: {self._tail(made)}"
                )
            self._staging = folder
        return self._staging

    def close(self) -> None:
        if self._staging is not None and self.connection.is_connected:
            with contextlib.suppress(Exception):
                self._raw(f"rm -rf {shlex.quote(self._staging)}", timeout=15)
        self._staging = None
        self.connection.close()
