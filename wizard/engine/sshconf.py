"""A host's SSH settings, resolved the way the operator's own OpenSSH resolves them.

When the ``ssh`` program is installed, OpenSSH itself is asked: ``ssh -G HOST`` prints what it
would use (``Include``, ``Match``, ``Host`` patterns, first-value-wins and its defaults, all
applied by OpenSSH). kubeha reads the user's config from ``$HOME/.ssh/config``; when ``$HOME`` is
the account's home (as usual) ``ssh -G`` runs exactly as the operator's ``ssh`` would; otherwise
it is given a config on its stdin that includes ``$HOME/.ssh/config`` then
``/etc/ssh/ssh_config``. Without ``ssh``, the two files are read by paramiko's parser after
kubeha has followed their ``Include`` lines (relative names from ``~/.ssh`` or ``/etc/ssh``, globs,
at most 16 deep), with OpenSSH's default identity files.

A config that OpenSSH refuses (an unknown option, a bad value) is a :class:`SshConfigError`
naming the file, line, option and value, never a traceback.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from wizard.errors import KubehaError
from wizard.textsafe import printable as escape_text

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
SSH_G_TIMEOUT = 15.0
MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # one config file; real ones are a few KiB
# OpenSSH 9's defaults when the config names none (what ``ssh -G`` prints)
DEFAULT_IDENTITIES = tuple(
    f"~/.ssh/id_{name}"
    for name in ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")
)
DEFAULT_KNOWN_HOSTS = {
    "userknownhostsfile": "~/.ssh/known_hosts ~/.ssh/known_hosts2",
    "globalknownhostsfile": "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2",
}


class SshConfigError(KubehaError):
    exit_code = 2


@dataclass(frozen=True)
class SshSettings:
    """What OpenSSH would use to reach ``alias`` (the name kubeha was given)."""

    alias: str
    hostname: str
    user: str | None
    port: int | None
    identity_files: tuple[str, ...]  # expanded paths, as configured or OpenSSH's defaults
    identities_only: bool
    proxy_jump: str | None
    proxy_command: str | None  # tokens (%h %p %r %n %%) expanded
    known_hosts_files: tuple[str, ...]  # UserKnownHostsFile then GlobalKnownHostsFile
    host_key_alias: str | None  # the name known_hosts and certificates are checked under
    source: str  # "ssh -G" or "config files" (no ssh program)

    def as_dict(self) -> dict[str, object]:
        """The lower-case option names fabric's ``Connection.ssh_config`` uses."""
        data: dict[str, object] = {"hostname": self.hostname}
        if self.user:
            data["user"] = self.user
        if self.port:
            data["port"] = str(self.port)
        if self.proxy_jump:
            data["proxyjump"] = self.proxy_jump
        if self.proxy_command:
            data["proxycommand"] = self.proxy_command
        if self.known_hosts_files:
            data["userknownhostsfile"] = " ".join(self.known_hosts_files)
        data["identityfile"] = list(self.identity_files)
        data["identitiesonly"] = "yes" if self.identities_only else "no"
        return data


def home() -> Path:
    return Path(os.path.expanduser("~"))


def user_config() -> Path:
    return home() / ".ssh" / "config"


def _account_home() -> Path | None:
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return None


def _expand_tokens(value: str, *, host: str, hostname: str, user: str, port: int) -> str:
    """OpenSSH's %-tokens that kubeha's uses of a value need; others are left as they are."""
    tokens = {
        "%": "%",
        "h": hostname,
        "n": host,
        "p": str(port),
        "r": user,
        "u": _local_user(),
        "d": str(home()),
    }
    return re.sub(r"%(.)", lambda m: tokens.get(m.group(1), m.group(0)), value)


def _local_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _path(value: str, **tokens) -> str:
    return os.path.expanduser(_expand_tokens(value, **tokens))


def _none(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if not value or value.lower() == "none" else value


def _port(value: object, host: str, source: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SshConfigError(
            f"SSH config ({source}) for {escape_text(host)}: Port {escape_text(text)!r}: "
            "expected a number from 1 to 65535"
        )
    return int(text)


def _yes(value: object) -> bool:
    return str(value or "no").strip().lower() in ("yes", "true")


def _settings(
    alias: str, options: dict[str, list[str]], source: str, defaults: bool
) -> SshSettings:
    first = {k: v[0] for k, v in options.items() if v}
    hostname = first.get("hostname", alias)
    port = _port(first.get("port"), alias, source)
    user = first.get("user")
    tokens: dict[str, Any] = {
        "host": alias,
        "hostname": hostname,
        "user": user or _local_user(),
        "port": port or 22,
    }
    identities = options.get("identityfile") or (list(DEFAULT_IDENTITIES) if defaults else [])
    known: list[str] = []
    for key in ("userknownhostsfile", "globalknownhostsfile"):
        values = options.get(key) or ([DEFAULT_KNOWN_HOSTS[key]] if defaults else [])
        for value in values:
            known.extend(_path(word, **tokens) for word in value.split() if word.lower() != "none")
    command = _none(first.get("proxycommand"))
    return SshSettings(
        alias=alias,
        hostname=hostname,
        user=user,
        port=port,
        identity_files=tuple(dict.fromkeys(_path(p, **tokens) for p in identities)),
        identities_only=_yes(first.get("identitiesonly")),
        proxy_jump=_none(first.get("proxyjump")),
        proxy_command=_expand_tokens(command, **tokens) if command else None,
        known_hosts_files=tuple(dict.fromkeys(known)),
        host_key_alias=_none(first.get("hostkeyalias")),
        source=source,
    )


# --- ssh -G ------------------------------------------------------------------------------------

_SSH_ERROR = re.compile(r"^(?P<file>/\S+?):? line (?P<line>\d+):\s*(?P<what>.*)$")


def _explain(stderr: str) -> str:
    """ssh's complaint, each ``FILE line N: ...`` with the line itself quoted."""
    said = []
    for raw in stderr.splitlines():
        text = raw.strip()
        if not text or "terminating" in text or text.startswith("Pseudo-terminal"):
            continue
        match = _SSH_ERROR.match(text)
        if match:
            quoted = ""
            try:
                lines = _read_config(Path(match["file"])).splitlines()
                quoted = lines[int(match["line"]) - 1].strip()
            except (SshConfigError, IndexError):
                pass
            text = f"{match['file']} line {match['line']}: {match['what']}"
            if quoted:
                text += f" (the line: {quoted!r})"
        said.append(escape_text(text))
    return "; ".join(said) or "ssh -G failed"


def _ssh_g(
    alias: str, user: str | None, port: int | None, identity: str | None, ssh: str
) -> dict[str, list[str]]:
    argv = [ssh, "-G"]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    if identity:
        argv += ["-i", identity]
    stdin_text = None
    account = _account_home()
    if account is None or account.resolve() != home().resolve():
        # $HOME is not the account's home (sudo -E, tests): OpenSSH would read the account's
        # ~/.ssh/config; kubeha reads $HOME's, then the system's, and $HOME's known_hosts.
        argv += ["-F", "/dev/stdin"]
        stdin_text = (
            f"Include {shlex.quote(str(user_config()))}\n"
            f"Include {shlex.quote(str(SYSTEM_CONFIG))}\n"
            "Host *\n"
            f"    UserKnownHostsFile {shlex.quote(str(home() / '.ssh' / 'known_hosts'))} "
            f"{shlex.quote(str(home() / '.ssh' / 'known_hosts2'))}\n"
        )
    argv += ["--", alias]
    try:
        proc = subprocess.run(
            argv,
            input=stdin_text,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SSH_G_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise SshConfigError(
            f"SSH config: `ssh -G {escape_text(alias)}` did not answer within "
            f"{SSH_G_TIMEOUT:.0f} s (a Match exec that hangs?)"
        ) from None
    except OSError as exc:
        raise SshConfigError(f"SSH config: cannot run {ssh}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise SshConfigError(
            f"SSH config for {escape_text(alias)} is refused by OpenSSH: {_explain(proc.stderr)}"
        )
    options: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key:
            options.setdefault(key.lower(), []).append(value.strip())
    return options


# --- without ssh: the files, their Include lines followed ----------------------------------------


def _include_targets(value: str, system: bool) -> list[Path]:
    found: list[Path] = []
    for word in shlex.split(value):
        word = os.path.expanduser(word)
        if not os.path.isabs(word):
            word = str((SYSTEM_CONFIG.parent if system else home() / ".ssh") / word)
        found.extend(Path(p) for p in sorted(glob.glob(word)))
    return found


def _read_config(path: Path) -> str:
    """One config file's text ("" when it does not exist). Opened without blocking and read
    only when it is a regular file of at most ``MAX_CONFIG_BYTES``: an Include of a FIFO would
    hang and one of /dev/zero would read until memory runs out."""
    shown = escape_text(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise SshConfigError(f"SSH config {shown}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SshConfigError(
                f"SSH config {shown}: not a regular file (a folder, FIFO or device): "
                "expected a config file"
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise SshConfigError(
                f"SSH config {shown}: {info.st_size} bytes: expected a config file of at most "
                f"{MAX_CONFIG_BYTES // (1024 * 1024)} MiB"
            )
        try:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise SshConfigError(
                f"SSH config {shown}: cannot read: {exc.strerror or exc}"
            ) from None
    return data.decode("utf-8", errors="replace")


def _expanded(path: Path, system: bool, depth: int = 0) -> str:
    """The file's text with every ``Include`` replaced by the files it names; a block's own
    header is repeated after an included file so that what follows stays in that block."""
    if depth > MAX_INCLUDE_DEPTH:
        raise SshConfigError(f"SSH config {path}: Include nested too deeply (more than 16)")
    text = _read_config(path)
    out: list[str] = []
    header = "Host *"
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.strip().split(None, 1)
        keyword = words[0].lower().split("=", 1)[0] if words else ""
        if keyword in ("host", "match"):
            header = line.strip()
        if keyword == "include":
            if len(words) < 2:
                raise SshConfigError(f"SSH config {path} line {number}: Include needs a file name")
            for target in _include_targets(words[1], system):
                out.append(_expanded(target, system, depth + 1))
            out.append(header)
            continue
        out.append(line)
    return "\n".join(out)


def _from_files(
    alias: str, user: str | None, port: int | None, identity: str | None
) -> dict[str, list[str]]:
    parts = [_expanded(user_config(), system=False), "Host *", _expanded(SYSTEM_CONFIG, True)]
    try:
        config = paramiko.SSHConfig.from_text("\n".join(parts))
        found = config.lookup(alias)
    except Exception as exc:  # paramiko's parser raises several kinds; all are a bad config
        raise SshConfigError(
            f"SSH config ({user_config()} or {SYSTEM_CONFIG}) cannot be read: "
            f"{escape_text(str(exc))}"
        ) from None
    options: dict[str, list[str]] = {}
    for key, value in found.items():
        options[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if user:
        options["user"] = [user]
    if port:
        options["port"] = [str(port)]
    if identity:
        options["identityfile"] = [identity, *options.get("identityfile", [])]
    return options


def ssh_program() -> str | None:
    return shutil.which("ssh")


def resolve(
    alias: str, user: str | None = None, port: int | None = None, identity: str | None = None
) -> SshSettings:
    """The settings OpenSSH would use for ``alias``, with ``user``, ``port`` and ``identity``
    (the profile's) as ``ssh -l USER -p PORT -i KEY`` would take them: they win over the config,
    and a key given this way replaces OpenSSH's default identity files."""
    ssh = ssh_program()
    if ssh is not None:
        options = _ssh_g(alias, user, port, identity, ssh)
        return _settings(alias, options, "ssh -G", defaults=False)
    return _settings(alias, _from_files(alias, user, port, identity), "config files", True)
