"""Nothing connects before every argument and address is checked: ``verify --drill`` refuses a
bad drill argument, and ``apply``, ``verify`` and ``uninstall`` refuse documentation addresses
(the example profiles'), each before any connection.

Every CLI run that would reach the network if the refusal were missing runs under
``unshare -n`` (an empty network namespace: no packet can leave), or in-process with the SSH
layer and ``socket.connect`` replaced by a tripwire that fails the test."""

from __future__ import annotations

import dataclasses
import io
import socket
import sys
import time

import pytest

from tests.support.examples import EXAMPLES, example_profile, section
from tests.support.offline import NEEDS_UNSHARE, kubeha_offline
from wizard.cli import main
from wizard.example_addresses import example_address_problems, example_range
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Node, SshTarget

OWN = """name = "own"
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
[[workers]]
name = "w1"
address = "10.0.0.21"
"""


@pytest.fixture
def tripwire(monkeypatch):
    """Any connection attempt (SSH layer, verify, a raw socket) fails the test."""
    import wizard.engine.connector as connector
    import wizard.engine.verify as verify

    attempts: list[str] = []

    def refuse(what: str):
        def fail(*args, **kwargs):
            attempts.append(what)
            raise AssertionError(f"{what} was called: a connection was attempted")

        return fail

    monkeypatch.setattr(verify, "run_verify", refuse("run_verify"))
    monkeypatch.setattr(connector.SshConnector, "__call__", refuse("SshConnector"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    return attempts


# --- verify --drill: every argument before any connection ------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--drill", "--master", "nope"],
            "--master: 'nope' is not a master of 'own': expected one of m1, m2, m3",
        ),
        (["--drill", "--master", "w1"], "--master: 'w1' is not a master of 'own'"),
        (["--drill", "--kind", "cut", "--confirm-master", "m1"], "--kind: 'cut' takes a host off"),
        (
            ["--drill", "--master", "m2", "--confirm-master", "m1"],
            "--confirm-master: 'm1' is not the master the drill takes away: expected 'm2'",
        ),
        (["--drill", "--master", "m2"], "pass --confirm-master m2"),
        (["--master", "m1"], "--master and --confirm-master go with --drill"),
    ],
)
def test_a_bad_drill_argument_is_refused_before_any_connection(
    write_toml, tripwire, capsys, monkeypatch, args, message
):
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # no terminal to ask in
    code = main(["verify", str(write_toml(OWN)), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert tripwire == []


@NEEDS_UNSHARE
def test_a_bad_master_fails_fast_without_the_network(tmp_path, write_toml):
    began = time.monotonic()
    result = kubeha_offline(tmp_path, "verify", str(write_toml(OWN)), "--drill", "--master", "x")
    assert result.returncode == 2
    assert "--master: 'x' is not a master of 'own': expected one of m1, m2, m3" in result.stderr
    assert "cannot connect" not in result.stdout + result.stderr  # no node was tried
    assert time.monotonic() - began < 30


# --- documentation addresses: refused by apply, verify and uninstall ------------------------


COMMANDS = (
    ("apply", "--yes"),
    ("apply", "--dry-run"),
    ("uninstall", "--yes"),
    ("verify",),
    ("verify", "--drill", "--confirm-master", "master1"),
)


@NEEDS_UNSHARE
@pytest.mark.parametrize("strategy", EXAMPLES)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_an_example_profile_is_refused_before_any_connection(tmp_path, strategy, command):
    path = EXAMPLE_PROFILES_DIR / f"{strategy}.toml"
    result = kubeha_offline(tmp_path, command[0], str(path), *command[1:])
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "masters[0].address: 192.0.2.11 is an example address (documentation range "
        "192.0.2.0/24): copy the profile and put your nodes' addresses in"
    ) in result.stderr
    assert f"{command[0]}: refusing to connect" in result.stderr
    assert "cannot connect" not in result.stdout + result.stderr and "Traceback" not in (
        result.stderr
    )


def test_the_refusal_comes_before_the_ssh_layer(tripwire, capsys):
    path = EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml"
    assert main(["apply", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "haproxy_keepalived.vip: 192.0.2.100 is an example address" in err
    assert tripwire == []


def test_validate_and_render_still_take_the_examples(tmp_path):
    for strategy in EXAMPLES:
        path = str(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")
        assert main(["validate", path]) == 0
        assert main(["render", path, "--out", str(tmp_path / strategy)]) == 0


@pytest.mark.parametrize(
    "text, network",
    [
        ("192.0.2.1", "192.0.2.0/24"),
        ("198.51.100.255", "198.51.100.0/24"),
        ("203.0.113.9", "203.0.113.0/24"),
        ("2001:db8::1", "2001:db8::/32"),
        ("2001:0db8:ffff::1", "2001:db8::/32"),
        ("::ffff:192.0.2.5", "192.0.2.0/24"),
        ("192.0.3.1", None),
        ("10.0.0.1", None),
        ("2001:db9::1", None),
        ("example.com", None),  # names are never resolved
        ("", None),
        (None, None),
    ],
)
def test_documentation_ranges(text, network):
    found = example_range(text)
    assert (str(found) if found else None) == network


def test_every_field_kubeha_connects_to_or_through_is_checked():
    base = example_profile("haproxy-keepalived")
    own = [dataclasses.replace(m, address=f"10.0.0.{i + 11}") for i, m in enumerate(base.masters)]
    profile = dataclasses.replace(
        base,
        masters=(
            own[0],
            dataclasses.replace(own[1], ssh=SshTarget(host="203.0.113.7")),
            own[2],
        ),
        workers=(Node("w1", "2001:db8::21"),),
        tables={
            **base.tables,
            "haproxy_keepalived": dataclasses.replace(
                section(base, "haproxy_keepalived"), vip="10.0.0.100"
            ),
        },
        ssh=dataclasses.replace(base.ssh, bastion="jump@198.51.100.7:2222"),
    )
    assert [line.split(":")[0] for line in example_address_problems(profile)] == [
        "masters[1].ssh.host",
        "workers[0].address",
        "ssh.bastion",
    ]
    vip_only = dataclasses.replace(
        profile,
        masters=tuple(own),
        workers=(),
        tables={
            **profile.tables,
            "haproxy_keepalived": dataclasses.replace(
                section(base, "haproxy_keepalived"), vip="192.0.2.100"
            ),
        },
        ssh=dataclasses.replace(base.ssh, bastion="jump.example.org"),
    )
    assert [line.split(":")[0] for line in example_address_problems(vip_only)] == [
        "haproxy_keepalived.vip"
    ]
