"""SSH pieces without a lab: which host, user, key and jump host ~/.ssh/config gives a node;
the passphrase and sudo password rules; pinning; the changed-key message; sudo's command lines
(the password never in one); sudo settled on connect; a jump host that fails fails once; and
every paramiko error a sentence, never a traceback."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import textwrap
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.examples import example_profile
from wizard.engine import secrets_input
from wizard.engine.connector import SshConnector, identity_files, ssh_destination
from wizard.engine.hostkeys import (
    CheckedPolicy,
    HostKeyError,
    changed_key_message,
    fingerprint,
    pin,
)
from wizard.engine.knownhosts import KnownHosts
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.transport import (
    CommandResult,
    GatewayPool,
    SshDestination,
    SshTransport,
    TransportError,
    describe_error,
)
from wizard.errors import KubehaError
from wizard.paths import known_hosts_file


def write_key(path: Path, passphrase: str | None) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
        )
    )
    path.chmod(0o600)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path.with_name(path.name + ".pub").write_text(public + "\n")
    return public


def host_key() -> paramiko.PKey:
    key = ed25519.Ed25519PrivateKey.generate()
    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return paramiko.Ed25519Key.from_private_key(io.StringIO(text))


@pytest.fixture
def profile():
    return example_profile("local-nginx")


def bare(profile):
    """The profile with no SSH settings at all."""
    return dataclasses.replace(
        profile,
        ssh=dataclasses.replace(profile.ssh, user=None, key_file=None, port=None, bastion=None),
        masters=tuple(dataclasses.replace(m, ssh=type(m.ssh)()) for m in profile.masters),
        workers=tuple(dataclasses.replace(w, ssh=type(w.ssh)()) for w in profile.workers),
    )


def ssh_config(home: Path, text: str) -> None:
    (home / ".ssh" / "config").write_text(textwrap.dedent(text))


# --- ~/.ssh/config ---------------------------------------------------------------------------


def test_ssh_config_by_node_name_or_by_address(profile, _private_home):
    p = bare(profile)
    first, second = p.masters[0], p.masters[1]
    ssh_config(
        _private_home,
        f"""\
        Host {first.name}
            HostName {first.address}
            User admin
        Host {second.address}
            User ops
        """,
    )
    assert ssh_destination(p, first.name).host == first.name  # fabric then applies HostName/User
    assert ssh_destination(p, second.name).host == second.address
    assert ssh_destination(p, second.name).user is None  # None: ~/.ssh/config decides


def test_profile_overrides_ssh_config(profile, _private_home):
    ssh_config(_private_home, "Host *\n    User fromconfig\n    ProxyJump jump.example\n")
    p = dataclasses.replace(
        bare(profile), ssh=dataclasses.replace(profile.ssh, user="root", bastion="ops@b:2202")
    )
    target = ssh_destination(p, p.masters[0].name)
    transport = SshTransport(target)
    assert transport.connection.user == "root"
    assert transport.jump == "ops@b:2202"
    assert transport.connection.gateway is False  # never fabric's own (AutoAdd) hop


def test_proxyjump_from_ssh_config(profile, _private_home):
    ssh_config(_private_home, "Host *\n    ProxyJump ops@jump.example:2222\n")
    p = bare(profile)
    transport = SshTransport(ssh_destination(p, p.masters[0].name))
    assert transport.jump == "ops@jump.example:2222"
    assert transport.endpoint.endswith("via ops@jump.example:2222")


def test_identity_files_from_profile_and_ssh_config(profile, _private_home, tmp_path):
    mine = tmp_path / "profile_key"
    write_key(mine, None)
    listed = _private_home / ".ssh" / "listed"
    write_key(listed, None)
    ssh_config(
        _private_home, "Host *\n    IdentityFile ~/.ssh/listed\n    IdentityFile ~/.ssh/missing\n"
    )
    p = dataclasses.replace(profile, ssh=dataclasses.replace(profile.ssh, key_file=str(mine)))
    assert identity_files(p) == [str(mine), str(listed)]


def test_openssh_default_keys_unless_the_profile_names_one_as_ssh_i_does(
    profile, _private_home, tmp_path
):
    """No IdentityFile in the config: OpenSSH's ~/.ssh/id_* defaults are offered, unless a key is
    given (the profile's ssh.key_file, like ``ssh -i``), which replaces them."""
    write_key(_private_home / ".ssh" / "id_rsa", "locked")  # encrypted
    write_key(_private_home / ".ssh" / "id_ed25519", None)
    defaults = [str(_private_home / ".ssh" / n) for n in ("id_rsa", "id_ed25519")]
    assert identity_files(bare(profile)) == defaults
    # headless, no agent: the plain default may log in; nothing is asked, nothing refused
    assert secrets_input.collect(bare(profile), ask_sudo_password=False) == Secrets(None, None)
    mine = tmp_path / "profile_key"
    write_key(mine, None)
    p = dataclasses.replace(profile, ssh=dataclasses.replace(profile.ssh, key_file=str(mine)))
    assert identity_files(p) == [str(mine)]


# --- secrets -----------------------------------------------------------------------------------


def test_passphrase_from_the_environment_is_checked_before_any_node(profile, tmp_path, monkeypatch):
    key = tmp_path / "enc"
    write_key(key, "right-one")
    p = dataclasses.replace(profile, ssh=dataclasses.replace(profile.ssh, key_file=str(key)))
    monkeypatch.setenv(secrets_input.PASSPHRASE_ENV, "wrong-one")
    with pytest.raises(KubehaError, match="does not decrypt") as info:
        secrets_input.collect(p, ask_sudo_password=False)
    assert "wrong-one" not in str(info.value)
    monkeypatch.setenv(secrets_input.PASSPHRASE_ENV, "right-one")
    monkeypatch.setenv(secrets_input.SUDO_PASSWORD_ENV, "sudo-pw")
    got = secrets_input.collect(p, ask_sudo_password=False)
    assert got == Secrets("right-one", "sudo-pw")
    assert "right-one" not in repr(got) and "sudo-pw" not in repr(got)
    assert secrets_input.PASSPHRASE_ENV not in os.environ  # no child process inherits them
    assert secrets_input.SUDO_PASSWORD_ENV not in os.environ


def test_encrypted_key_headless_without_passphrase_is_a_clear_error(profile, tmp_path):
    key = tmp_path / "enc"
    write_key(key, "secret")
    p = dataclasses.replace(profile, ssh=dataclasses.replace(profile.ssh, key_file=str(key)))
    with pytest.raises(KubehaError, match="KUBEHA_SSH_PASSPHRASE"):
        secrets_input.collect(p, ask_sudo_password=False)


def test_plain_key_needs_no_passphrase_and_sudo_password_is_asked_only_on_request(
    profile, tmp_path
):
    key = tmp_path / "plain"
    write_key(key, None)
    p = dataclasses.replace(profile, ssh=dataclasses.replace(profile.ssh, key_file=str(key)))
    assert secrets_input.collect(p, ask_sudo_password=False) == Secrets(None, None)
    with pytest.raises(KubehaError, match="KUBEHA_SUDO_PASSWORD"):
        secrets_input.collect(p, ask_sudo_password=True)  # no terminal here


def test_encrypted_key_of_ssh_config_is_found(profile, _private_home, monkeypatch):
    write_key(_private_home / ".ssh" / "enc", "pp")
    ssh_config(_private_home, "Host *\n    IdentityFile ~/.ssh/enc\n")
    with pytest.raises(KubehaError, match=r"passphrase for .*enc needed"):
        secrets_input.collect(bare(profile), ask_sudo_password=False)


# --- host keys -----------------------------------------------------------------------------


def test_pin_writes_0600_once():
    key = host_key()
    pin("[10.0.0.1]:2222", key)
    pin("[10.0.0.1]:2222", key)
    path = known_hosts_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().count("[10.0.0.1]:2222 ssh-ed25519 ") == 1


def test_policy_refuses_unless_trusted_and_a_failing_confirmation_is_a_no():
    client = paramiko.SSHClient()
    key = host_key()
    with pytest.raises(
        HostKeyError, match=re.escape(f"is not known (ssh-ed25519 {fingerprint(key)})")
    ):
        CheckedPolicy(None, False).missing_host_key(client, "h1", key)

    def broken(host, fp):
        raise RuntimeError("the screen went away")

    with pytest.raises(HostKeyError):
        CheckedPolicy(broken, False).missing_host_key(client, "h1", key)
    assert not known_hosts_file().exists()
    CheckedPolicy(lambda host, fp: fp == fingerprint(key), False).missing_host_key(
        client, "h1", key
    )
    assert "h1 ssh-ed25519" in known_hosts_file().read_text()


def test_changed_key_message_names_host_both_fingerprints_and_the_file(tmp_path):
    old, new = host_key(), host_key()
    pin("[10.0.0.5]:22", old)  # any name: kubeha's own file holds the old key
    pin("10.0.0.5", old)
    known = KnownHosts.load([known_hosts_file()]).for_host("10.0.0.5")
    text = changed_key_message("10.0.0.5", known, new)
    assert "host key for 10.0.0.5 has CHANGED" in text
    assert f"known ssh-ed25519 {fingerprint(old)}" in text
    assert f"offered ssh-ed25519 {fingerprint(new)}" in text
    assert f"ssh-keygen -R 10.0.0.5 -f {known_hosts_file()}" in text
    assert f"(in {known_hosts_file()} line 2)" in text


# --- sudo ------------------------------------------------------------------------------------


def transport(privilege: str | None = None, password: str | None = None) -> SshTransport:
    t = SshTransport(
        SshDestination("n1", "127.0.0.1", 1, "ops", None, None, True), sudo_password=password
    )
    t.privilege = privilege
    return t


def test_sudo_command_lines_never_hold_the_password():
    argv = ["sh", "-c", "echo 'a b'; rm -rf /tmp/x;"]
    assert (
        transport("root")._wrap(argv, None)[0] == "sh -c 'echo '\"'\"'a b'\"'\"'; rm -rf /tmp/x;'"
    )
    line, data, watchers = transport("nopasswd")._wrap(argv, None)
    assert line.startswith("sudo -n -- sh -c ") and data is None and not watchers
    t = transport("password", "pw-SECRET")
    line, data, watchers = t._wrap(argv, None)
    assert line.startswith("sudo -S -p ") and "pw-SECRET" not in line and data is None
    assert [w.response for w in watchers] == ["pw-SECRET\n"]  # only when sudo prompts
    line, data, watchers = t._wrap(argv, "input\n")
    assert line.startswith("sudo -k -S -p '' -- ") and "pw-SECRET" not in line
    assert data == "pw-SECRET\ninput\n" and not watchers


@pytest.mark.parametrize(
    ("whoami", "check", "password", "privilege", "error"),
    [
        ("uid=0\n", None, None, "root", None),
        ("uid=1000\nsudo=0\n", None, None, "nopasswd", None),
        ("uid=1000\nsudo: a password is required\nsudo=1\n", None, None, None, "needs a password"),
        (
            "uid=1000\nsudo: a password is required\nsudo=1\n",
            CommandResult(("x",), 0, "", ""),
            "pw",
            "password",
            None,
        ),
        (
            "uid=1000\nsudo: a password is required\nsudo=1\n",
            CommandResult(("x",), 1, "", "Sorry, try again.\nsudo: 1 incorrect password attempt"),
            "bad",
            None,
            "wrong sudo password",
        ),
        (
            "uid=1000\nsudo: a password is required\nsudo=1\n",
            CommandResult(("x",), 124, "", "timed out after 30s"),
            "pw",
            None,
            "did not answer within",
        ),
        (
            "uid=1000\nops is not in the sudoers file.\nsudo=1\n",
            None,
            None,
            None,
            "may not use sudo",
        ),
        (
            "uid=1000\nsudo: sorry, you must have a tty to run sudo\nsudo=1\n",
            None,
            None,
            None,
            "terminal",
        ),
    ],
)
def test_sudo_is_settled_on_connect(whoami, check, password, privilege, error):
    t = transport(None, password)
    calls = []

    def raw(command, *, timeout, stdin=None, watchers=()):
        calls.append((command, stdin, timeout))
        if command.startswith('echo "uid='):
            return CommandResult((command,), 0, whoami, "")
        assert check is not None
        return check

    t._raw = raw  # type: ignore[method-assign]
    if error:
        with pytest.raises(TransportError, match=error):
            t._settle_privilege()
    else:
        assert t._settle_privilege() == privilege
    for command, stdin, timeout in calls:
        assert (password or "\0") not in command and timeout <= 30
        if stdin:
            assert stdin == f"{password}\n"


def test_a_sudo_prompt_answered_twice_is_a_wrong_password():
    t = transport("password", "pw")

    def raw(command, *, timeout, stdin=None, watchers=()):
        prompt = t._sudo_prompt
        return CommandResult(
            (command,),
            1,
            "",
            f"{prompt}Sorry, try again.\n{prompt}sudo: 2 incorrect password attempts\n",
        )

    t._raw = raw  # type: ignore[method-assign]
    with pytest.raises(TransportError, match="wrong sudo password"):
        t.run(["true"])


def test_the_prompt_marker_is_removed_from_stderr():
    t = transport("password", "pw")
    t._raw = lambda command, **kw: CommandResult((command,), 0, "out", t._sudo_prompt + "warn\n")  # type: ignore[method-assign]
    assert t.run(["true"]) == CommandResult(("true",), 0, "out", "warn\n")


# --- jump hosts and errors ---------------------------------------------------------------------


def test_a_jump_host_that_fails_fails_every_node_at_once_without_retrying():
    opened = []

    class Refusing:
        user, host, port = "ops", "jump", 2202
        gateway = False
        is_connected = False

        def __init__(self):
            self.ssh_config: dict = {}
            self.connect_kwargs: dict = {}

        def open(self):
            opened.append(1)
            raise paramiko.AuthenticationException("no")

    pool = GatewayPool(lambda spec: (Refusing(), []))  # type: ignore[arg-type, return-value]
    for _ in range(3):
        with pytest.raises(
            TransportError, match="jump host ops@\\[jump\\]:2202: authentication failed"
        ):
            pool.get("ops@jump:2202", 1.0)
    assert opened == [1]
    with pytest.raises(TransportError, match="more than 5 hops"):
        pool.get("a,b,c,d,e,f", 1.0)


def test_a_jump_host_is_never_reached_through_itself():
    """``Host *`` with ``ProxyJump jump`` also matches the jump host: it is reached directly."""
    opened = []

    class Jump:
        user, host, port, original_host = "ops", "10.0.0.9", 22, "jump"
        gateway = False
        is_connected = False

        def __init__(self):
            self.ssh_config = {"proxyjump": "jump"}
            self.connect_kwargs: dict = {}

        def open(self):
            opened.append(dict(self.connect_kwargs))

    pool = GatewayPool(lambda spec: (Jump(), []))  # type: ignore[arg-type, return-value]
    pool.get("jump", 1.0)
    assert opened == [{}]  # opened once, with no channel through anything


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (paramiko.AuthenticationException("Authentication failed."), "authentication failed"),
        (paramiko.PasswordRequiredException("private key file is encrypted"), "encrypted"),
        (paramiko.ChannelException(2, "Connect failed"), "could not reach it (Connect failed)"),
        (paramiko.SSHException("Error reading SSH protocol banner"), "no SSH server answered"),
        (TimeoutError(), "timed out"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot connect: Connection refused"),
        (EOFError(), "closed while connecting"),
    ],
)
def test_every_connect_error_is_a_sentence(exc, expected):
    error = describe_error(exc, "ops@10.0.0.1", "10.0.0.1", [])
    assert isinstance(error, KubehaError) and expected in str(error)


def test_connecting_to_nothing_fails_with_a_sentence(profile):
    p = dataclasses.replace(
        profile,
        masters=(
            dataclasses.replace(
                profile.masters[0], ssh=type(profile.masters[0].ssh)(host="127.0.0.1", port=1)
            ),
        ),
        workers=(),
    )
    opener = SshConnector(p, ApplyOptions(connect_timeout=2), Secrets())(p.masters[0].name)
    with pytest.raises(TransportError, match="cannot connect: connection refused"):
        opener()
