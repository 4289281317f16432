"""The SSH config the way the operator's own ``ssh`` reads it, against a real sshd
(tests/support/sshd.py):

- a host alias defined in a file that ``~/.ssh/config`` pulls in with ``Include`` is used (it was
  lost: kubeha dialled the node's raw address as the local user), through ``ssh -G`` and, when
  there is no ``ssh`` program, through kubeha's own reading of the files;
- ``IdentitiesOnly yes`` keeps ssh-agent's keys out, as OpenSSH does (same outcome as ``ssh``
  with the same config and agent);
- a config OpenSSH refuses stops ``kubeha apply`` before any node, with a message naming the
  file, line, option and value, non-zero, no traceback."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.examples import example_profile
from tests.support.offline import NEEDS_UNSHARE, kubeha_offline
from tests.support.sshd import host_certificate, new_key, running_sshd
from wizard.engine import sshconf
from wizard.engine.connector import SshConnector
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.transport import TransportError


def bare_profile(name: str = "m1", address: str = "127.0.0.2"):
    """One master, nothing in [ssh]: everything comes from the SSH config. Its address is a
    loopback one where nothing listens (what kubeha dialled when it lost the alias)."""
    base = example_profile("local-nginx")
    master = dataclasses.replace(
        base.masters[0], name=name, address=address, ssh=type(base.masters[0].ssh)()
    )
    ssh = dataclasses.replace(
        base.ssh, user=None, port=None, key_file=None, known_hosts=None, bastion=None
    )
    return dataclasses.replace(base, masters=(master,), workers=(), ssh=ssh)


def open_first(profile) -> str:
    """Open the profile's node as a run does, run ``id -u`` on it, close; returns the output."""
    connector = SshConnector(profile, ApplyOptions(connect_timeout=20), Secrets())
    try:
        node = connector(profile.masters[0].name)()
        try:
            return node.run(["id", "-u"]).stdout.strip()
        finally:
            node.transport.close()
    finally:
        connector.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("through", ["ssh -G", "config files"])
def test_a_host_alias_from_an_included_file_is_used(tmp_path, _private_home, monkeypatch, through):
    if through == "config files":
        monkeypatch.setattr(sshconf, "ssh_program", lambda: None)
    with running_sshd(tmp_path / "sshd") as sshd:
        (_private_home / ".ssh" / "known_hosts").write_text(sshd.known_line() + "\n")
        write(
            _private_home / ".ssh" / "conf.d" / "lab.conf",
            f"""\
            Host m1
                HostName 127.0.0.1
                Port {sshd.port}
                User root
                IdentityFile {sshd.client_key}
            """,
        )
        # ssh -G resolves a relative Include from the account's ~/.ssh (this test's HOME is
        # not the account's): the absolute form there, the usual relative one without ssh.
        include = (
            str(_private_home / ".ssh" / "conf.d" / "*.conf")
            if through == "ssh -G"
            else "conf.d/*.conf"
        )
        write(_private_home / ".ssh" / "config", f"Include {include}\n\nHost *\n    Port 1\n")
        settings = sshconf.resolve("m1")
        assert (settings.source, settings.hostname, settings.port) == (
            through,
            "127.0.0.1",
            sshd.port,
        )
        assert open_first(bare_profile()) == "0"


@contextlib.contextmanager
def agent_holding(key: Path, folder: Path) -> Iterator[str]:
    """A real ssh-agent holding ``key``; yields its socket; stopped by its PID."""
    sock = folder / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, timeout=30)
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize("identities_only", ["yes", "no"])
def test_identities_only_keeps_the_agent_out_as_openssh_does(
    tmp_path, _private_home, monkeypatch, identities_only
):
    agent_key = tmp_path / "in_agent"  # the only key the node accepts
    new_key(agent_key)
    named = tmp_path / "named"  # the config's IdentityFile: not accepted by the node
    new_key(named)
    authorized = [agent_key.with_name("in_agent.pub").read_text().strip()]
    with (
        running_sshd(tmp_path / "sshd", authorized=authorized, client_authorized=False) as sshd,
        agent_holding(agent_key, tmp_path) as sock,
    ):
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(sshd.known_line() + "\n")
        config = write(
            _private_home / ".ssh" / "config",
            f"""\
            Host m1
                HostName 127.0.0.1
                Port {sshd.port}
                User root
                IdentityFile {named}
                IdentitiesOnly {identities_only}
                UserKnownHostsFile {known}
                GlobalKnownHostsFile /dev/null
            """,
        )
        openssh = subprocess.run(
            ["ssh", "-F", str(config), "-o", "BatchMode=yes", "m1", "true"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if identities_only == "yes":
            assert openssh.returncode != 0 and "Permission denied" in openssh.stderr
            with pytest.raises(TransportError, match="authentication failed"):
                open_first(bare_profile())
        else:
            assert openssh.returncode == 0, openssh.stderr
            assert open_first(bare_profile()) == "0"


def test_identities_only_still_lets_the_agent_sign_for_the_named_key(
    tmp_path, _private_home, monkeypatch
):
    """As ssh does: the named IdentityFile is encrypted, ssh-agent holds it, no passphrase is
    given; another key in the agent is never offered (the node refuses the login after too
    many keys otherwise: MaxAuthTries 1)."""
    named = tmp_path / "named"
    new_key(named)
    decoy = tmp_path / "decoy"
    new_key(decoy)
    authorized = [named.with_name("named.pub").read_text().strip()]
    with (
        running_sshd(
            tmp_path / "sshd", authorized=authorized, client_authorized=False, max_auth_tries=1
        ) as sshd,
        agent_holding(decoy, tmp_path) as sock,
    ):
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", "-q", str(named)], env=env, check=True, timeout=30)
        subprocess.run(  # the file on disk is now encrypted; the agent keeps the key
            ["ssh-keygen", "-q", "-p", "-P", "", "-N", "disk-secret", "-f", str(named)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(sshd.known_line() + "\n")
        config = write(
            _private_home / ".ssh" / "config",
            f"""\
            Host m1
                HostName 127.0.0.1
                Port {sshd.port}
                User root
                IdentityFile {named}
                IdentitiesOnly yes
                UserKnownHostsFile {known}
                GlobalKnownHostsFile /dev/null
            """,
        )
        openssh = subprocess.run(
            ["ssh", "-F", str(config), "-o", "BatchMode=yes", "m1", "true"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        assert openssh.returncode == 0, openssh.stderr
        assert open_first(bare_profile()) == "0"


PROFILE = """name = "own"
strategy = "local-nginx"
[[masters]]
name = "m1"
address = "10.0.0.11"
[[masters]]
name = "m2"
address = "10.0.0.12"
[[masters]]
name = "m3"
address = "10.0.0.13"
"""


@NEEDS_UNSHARE
@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("Port abc", "line 2: Bad port 'abc'. (the line: 'Port abc')"),
        (
            "Frobnicate yes",
            "line 2: Bad configuration option: frobnicate (the line: 'Frobnicate yes')",
        ),
        (
            "IdentitiesOnly maybe",
            "line 2: unsupported option \"maybe\". (the line: 'IdentitiesOnly maybe')",
        ),
    ],
)
def test_a_bad_ssh_config_is_a_sentence_naming_file_line_option_and_value(tmp_path, line, said):
    home = tmp_path / "home"
    config = write(home / ".ssh" / "config", f"Host m1\n    {line}\n")
    profile = tmp_path / "own.toml"
    profile.write_text(PROFILE)
    proc = kubeha_offline(tmp_path, "apply", str(profile), "--dry-run")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out
    assert f"{config} {said}" in out, out


@NEEDS_UNSHARE
def test_a_relative_include_is_read_where_the_operators_ssh_reads_it(tmp_path, _private_home):
    """The usual ``Include config.d/*``, relative to the account's ~/.ssh: kubeha runs in a
    mount namespace whose /etc/passwd gives root this test's HOME, so ``ssh -G`` runs exactly as
    the operator's own ssh (no stdin config), and the alias it defines is used."""
    with running_sshd(tmp_path / "sshd") as sshd:
        (_private_home / ".ssh" / "known_hosts").write_text(sshd.known_line() + "\n")
        write(
            _private_home / ".ssh" / "config.d" / "lab",
            f"Host m1\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
            f"  IdentityFile {sshd.client_key}\n",
        )
        write(_private_home / ".ssh" / "config", "Include config.d/*\n")
        passwd = tmp_path / "passwd"
        passwd.write_text(
            "".join(
                ":".join([*f.split(":")[:5], str(_private_home), *f.split(":")[6:]]) + "\n"
                if f.startswith("root:")
                else f + "\n"
                for f in Path("/etc/passwd").read_text().splitlines()
            )
        )
        code = (
            "from tests.wizard.engine.ssh.test_openssh_config import bare_profile, open_first\n"
            "from wizard.engine import sshconf\n"
            "assert sshconf._account_home() == sshconf.home(), 'not the plain ssh -G path'\n"
            "print(open_first(bare_profile()))\n"
        )
        proc = subprocess.run(
            [
                *("unshare", "-m", "--propagation", "private", "sh", "-c"),
                f'mount --bind {passwd} /etc/passwd && exec "$0" -c "$1"',
                sys.executable,
                code,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[4],
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stdout + proc.stderr


def test_host_key_alias_names_the_known_hosts_entry_and_the_certificate_principal(
    tmp_path, _private_home
):
    ca = tmp_path / "ca"
    new_key(ca)
    host_key = tmp_path / "host"
    new_key(host_key)
    cert = host_certificate(ca, host_key, "node-one")  # the alias, not the address
    with running_sshd(tmp_path / "sshd", certificate=cert, host_key=host_key) as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(f"@cert-authority node-* {ca.with_name('ca.pub').read_text().strip()}\n")
        config = write(
            _private_home / ".ssh" / "config",
            f"""\
            Host m1
                HostName 127.0.0.1
                Port {sshd.port}
                User root
                IdentityFile {sshd.client_key}
                HostKeyAlias node-one
                UserKnownHostsFile {known}
                GlobalKnownHostsFile /dev/null
            """,
        )
        openssh = subprocess.run(
            ["ssh", "-F", str(config), "-o", "BatchMode=yes", "m1", "true"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert openssh.returncode == 0, openssh.stderr
        assert open_first(bare_profile()) == "0"


FALLBACK_CASES = {
    "include inside a Host block": (
        "Host m1\n    Include {d}/inner.conf\n    User alice\nHost *\n    Port 2200\n",
        {"inner.conf": "Hostname 10.1.1.1\nHost other\n    User bob\n"},
    ),
    "glob, nested include, first value wins": (
        "Include {d}/conf.d/*.conf\nHost *\n    User late\n    IdentitiesOnly yes\n",
        {
            "conf.d/10-a.conf": "Host m?\n    User early\n    Include {d}/deep.conf\n",
            "conf.d/20-b.conf": "Host m1\n    HostName 10.2.2.2\n    ProxyJump ops@jump:2202\n",
            "deep.conf": "Host m1\n    IdentityFile ~/.ssh/deep_key\n    Port 2022\n",
        },
    ),
    "negated host pattern": (
        "Host * !m1\n    User everyone\nHost m1\n    HostKeyAlias node-one\n",
        {},
    ),
}


@pytest.mark.parametrize("case", FALLBACK_CASES)
def test_without_ssh_kubeha_reads_the_config_as_ssh_g_does(
    tmp_path, _private_home, monkeypatch, case
):
    """The fallback (no ``ssh`` program) against OpenSSH's own answer for the same files."""
    main, others = FALLBACK_CASES[case]
    d = tmp_path / "cfg"
    for name, text in others.items():
        write(d / name, text.format(d=d))
    write(_private_home / ".ssh" / "config", main.format(d=d))
    by_openssh = sshconf.resolve("m1")
    monkeypatch.setattr(sshconf, "ssh_program", lambda: None)
    by_kubeha = sshconf.resolve("m1")
    assert (by_openssh.source, by_kubeha.source) == ("ssh -G", "config files")
    # ssh -G fills in the local user and port 22 where the files say nothing; so does fabric
    if by_kubeha.user is None:
        by_kubeha = dataclasses.replace(by_kubeha, user=by_openssh.user)
    if by_kubeha.port is None:
        by_kubeha = dataclasses.replace(by_kubeha, port=22)
    system = [p for p in by_openssh.known_hosts_files if p.startswith("/etc/")]
    assert dataclasses.replace(by_kubeha, source="") == dataclasses.replace(
        by_openssh, source=""
    ), (by_kubeha, by_openssh)
    assert system == ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Host m1\n    Port abc\n", "Port 'abc': expected a number from 1 to 65535"),
        ("Host m1\n    Include\n", "config line 2: Include needs a file name"),
    ],
)
def test_without_ssh_a_bad_config_is_a_sentence_too(_private_home, monkeypatch, text, said):
    monkeypatch.setattr(sshconf, "ssh_program", lambda: None)
    write(_private_home / ".ssh" / "config", text)
    with pytest.raises(sshconf.SshConfigError, match=re.escape(said)):
        sshconf.resolve("m1")


_RESOLVE_WITHOUT_SSH = """
import sys
from wizard.engine import sshconf
sshconf.ssh_program = lambda: None
try:
    sshconf.resolve("m1")
except sshconf.SshConfigError as exc:
    print(exc)
    sys.exit(2)
"""


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "huge"])
def test_without_ssh_an_include_that_is_not_a_config_file_is_a_sentence(tmp_path, target):
    """Include of a device, a FIFO or a huge file: before, /dev/zero was read until memory ran
    out (a MemoryError traceback) and a FIFO hung for ever; now each is named and refused."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    path = target
    if target == "fifo":
        path = str(home / ".ssh" / "fifo")
        os.mkfifo(path)
    elif target == "huge":
        path = str(home / ".ssh" / "huge")
        with open(path, "wb") as handle:
            handle.truncate(sshconf.MAX_CONFIG_BYTES + 1)  # sparse: no disk used
    write(home / ".ssh" / "config", f"Include {path}\nHost m1\n    Port 2222\n")
    result = subprocess.run(
        [sys.executable, "-c", _RESOLVE_WITHOUT_SSH],
        capture_output=True,
        text=True,
        timeout=120,  # the bug was a hang (or memory running out): a timeout fails the test
        cwd=Path(__file__).resolve().parents[4],
        env={**os.environ, "HOME": str(home)},
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert path in result.stdout and "expected a config file" in result.stdout, result.stdout
    assert "Traceback" not in result.stderr
