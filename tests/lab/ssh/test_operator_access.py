"""Reaching the lab the way operators reach real nodes: as ``ops`` through the bastion (the only
way in: the profile names the nodes by lab addresses the host cannot route to), sudo with and
without a password, ~/.ssh/config alone, ssh-agent, and the failures that must stay local to one
node: a missing or wrong sudo password, a refused key."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
import tomllib

import pytest

from tests.support.sshkit import (
    OK,
    USER,
    ProcessWatch,
    accepted_logins,
    apply,
    connect_seconds,
    reasons,
    states,
)
from wizard.cli import main
from wizard.engine.model import Secrets
from wizard.engine.transport import STAGING_MARK
from wizard.lab import bastion, operator, pki
from wizard.lab.constants import SSH_KEY_FILE
from wizard.lab.profiles import build_profile
from wizard.profile_io import profile_from_dict, save_profile

pytestmark = pytest.mark.lab

CONF = "/etc/kube-nginx/kube-nginx.conf"
FAST = 20.0  # seconds: a node that cannot get root fails within this (a hang would be 120+)


def test_the_profile_names_nodes_only_by_addresses_the_host_cannot_route_to(access):
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.77.0." not in addrs and "10.77.0." not in routes
    profile = access.profile()
    assert all(n.address.startswith("10.77.0.") and n.ssh.host is None for n in profile.all_nodes())
    assert profile.ssh.bastion == f"ops@127.0.0.1:{bastion.PORT}"


def test_apply_through_the_bastion_with_a_sudo_password_on_every_node(access):
    lab = access.lab
    names = [n.name for n in lab.nodes]
    access.set_sudo(dict.fromkeys(names, "password"))
    listing = ["sh", "-c", "ls -d /tmp/.kubeha-* 2>/dev/null"]
    # On m1, the folder a dropped connection of ops left (its mark names an sshd session that
    # no longer runs): this apply's first upload there sweeps it; one alike by name but
    # without the mark is not kubeha's to remove.
    stale, alike = "/tmp/.kubeha-stalestale", "/tmp/.kubeha-alikealike"
    first = lab.masters[0].name
    plant = (
        f"install -d -m 700 -o {USER} {stale} {alike} && "
        f"printf '999999 1\\n' > {stale}/{STAGING_MARK} && chown {USER} {stale}/{STAGING_MARK}"
    )
    assert lab.exec_in_node(first, ["sh", "-c", plant]).returncode == 0
    # Upload folders an earlier module's run left (a connection dropped by a cut: issue 28's
    # notes) are not this apply's: it must add none.
    earlier = {name: set(lab.exec_in_node(name, listing).stdout.split()) for name in names}
    try:
        logins = accepted_logins(bastion.NAME)
        with ProcessWatch(names) as watch:
            summary, recorder = apply(access.profile(), Secrets(sudo_password=access.password))
        assert summary.ok, recorder.text()
        assert set(states(summary).values()) == {"verified"}
        # one connection to the bastion, shared by all five nodes
        assert accepted_logins(bastion.NAME) == logins + 1
        assert watch.polls > 3
        assert not [line for line in watch.seen if access.password in line]
        assert any(line.startswith("sudo -S -p [kubeha-sudo-") for line in watch.seen), (
            "sudo was never seen running"
        )
        for name in names:
            owner = lab.exec_in_node(name, ["stat", "-c", "%U %a", CONF]).stdout.split()
            assert owner[0] == "root", name
            left = set(lab.exec_in_node(name, listing).stdout.split()) - earlier[name]
            assert not left, f"{name}: upload folders left behind: {sorted(left)}"
        after = set(lab.exec_in_node(first, listing).stdout.split())
        assert stale not in after and alike in after, after
    finally:
        lab.exec_in_node(first, ["rm", "-rf", stale, alike])
        access.mixed_sudo()


def test_mixed_sudo_with_the_password_every_node_completes(access):
    summary, recorder = apply(access.profile(), Secrets(sudo_password=access.password))
    assert summary.ok, recorder.text()
    assert set(states(summary).values()) <= OK


def test_without_the_sudo_password_only_the_nodes_that_need_it_fail_fast(access):
    summary, recorder = apply(access.profile(), dry_run=True)  # connect and facts are enough
    masters = {n.name for n in access.lab.masters}
    for name, state in states(summary).items():
        if name in masters:
            assert state == "untouched", recorder.text()
            assert "sudo on this node needs a password" in reasons(summary)[name]
            assert "--ask-sudo-password" in reasons(summary)[name]
            assert connect_seconds(recorder)[name] < FAST
        else:
            assert state == "planned", recorder.text()


def test_a_wrong_sudo_password_fails_those_nodes_fast_and_the_others_complete(
    access, capfd, monkeypatch
):
    path = save_profile(access.profile(), access.folder / "wrong-sudo.toml")
    monkeypatch.setenv("KUBEHA_SUDO_PASSWORD", "not-" + access.password)
    assert main(["apply", str(path), "--yes"]) == 1
    assert "KUBEHA_SUDO_PASSWORD" not in os.environ  # read once, then gone from the environment
    out, err = capfd.readouterr()
    text = out + err
    assert "Traceback" not in text
    for m in access.lab.masters:
        assert f"{m.name}" in text
    assert text.count("sudo refused: wrong sudo password") >= len(access.lab.masters)
    assert "2/5 node(s) ok" in text, text
    assert access.password not in text


def test_wrong_sudo_password_is_quick(access):
    summary, recorder = apply(
        access.profile(), Secrets(sudo_password="wrong-" + access.password), dry_run=True
    )
    seconds = connect_seconds(recorder)
    for m in access.lab.masters:
        assert "wrong sudo password" in reasons(summary)[m.name]
        assert seconds[m.name] < FAST, seconds
    assert {states(summary)[w.name] for w in access.lab.workers} == {"planned"}


def test_a_refused_key_fails_that_node_fast_and_the_others_complete(access, capfd):
    operator.set_keys("w2", [])  # w2 no longer accepts the lab key for ops
    try:
        summary, recorder = apply(access.profile(), Secrets(sudo_password=access.password))
    finally:
        operator.set_keys("w2", [pki.public_key()])
    assert states(summary)["w2"] == "untouched", recorder.text()
    assert "authentication failed" in reasons(summary)["w2"]
    assert "ops@10.77.0.22" in reasons(summary)["w2"]
    assert connect_seconds(recorder)["w2"] < FAST
    assert {s for n, s in states(summary).items() if n != "w2"} <= OK, recorder.text()
    assert "Traceback" not in "".join(capfd.readouterr())


def test_a_user_without_sudo_is_named_and_the_others_complete(access):
    operator.set_sudo("w1", "none")
    try:
        summary, recorder = apply(
            access.profile(), Secrets(sudo_password=access.password), dry_run=True
        )
    finally:
        access.mixed_sudo()
    assert states(summary)["w1"] == "untouched", recorder.text()
    assert "ops may not use sudo on this node" in reasons(summary)["w1"]
    assert connect_seconds(recorder)["w1"] < FAST
    assert {s for n, s in states(summary).items() if n != "w1"} == {"planned"}, recorder.text()


def test_ssh_config_alone_reaches_the_nodes(access, _private_home, capfd, monkeypatch):
    """No [ssh] in the profile at all: user, key, the jump host, known_hosts come from ~/.ssh."""
    lab = access.lab
    data = build_profile(lab.state, "local-nginx")
    for group in ("masters", "workers"):
        for entry in data[group]:
            entry.pop("ssh")
    del data["ssh"]
    data["name"] = "lab-ssh-config-only"
    profile = profile_from_dict(data).profile
    assert profile is not None and profile.ssh.user is None and profile.ssh.bastion is None
    key = _private_home / ".ssh" / "lab_ed25519"
    key.write_bytes(SSH_KEY_FILE.read_bytes())
    key.chmod(0o600)
    # m1 by its name (Host m1 / HostName), the others by their addresses (Host 10.77.0.*)
    (_private_home / ".ssh" / "config").write_text(
        textwrap.dedent(
            f"""\
            Host m1
                HostName {lab.node("m1").address}
            Host jump
                HostName 127.0.0.1
                Port {bastion.PORT}
            Host m1 jump 10.77.0.*
                User ops
                IdentityFile ~/.ssh/lab_ed25519
            Host m1 10.77.0.*
                ProxyJump jump
            """
        )
    )
    (_private_home / ".ssh" / "known_hosts").write_text(access.known_hosts.read_text())
    path = save_profile(profile, access.folder / "ssh-config-only.toml")
    saved = tomllib.loads(path.read_text())
    assert saved.get("ssh", {}) in ({}, {"sudo": False}), saved.get("ssh")
    monkeypatch.setenv("KUBEHA_SUDO_PASSWORD", access.password)
    code = main(["apply", str(path), "--yes"])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "5/5 node(s) ok" in out
    assert "Traceback" not in out + err


def test_ssh_agent_alone_authenticates(access, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(SSH_KEY_FILE)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        profile = access.profile(key_file=None)
        summary, recorder = apply(profile, Secrets(sudo_password=access.password), dry_run=True)
        assert summary.ok, recorder.text()
        assert set(states(summary).values()) == {"planned"}
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(timeout=10)
