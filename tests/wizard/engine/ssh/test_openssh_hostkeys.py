"""known_hosts the way OpenSSH reads it, against a real sshd (tests/support/sshd.py) with real
``ssh-keygen -s`` host certificates: kubeha opens the node exactly when OpenSSH's own ``ssh``
logs in with the same known_hosts, and says why when not.

- ``@cert-authority`` and ``@revoked`` lines and malformed lines no longer stop kubeha (they
  raised paramiko's InvalidHostKey, "Incorrect padding", on every node); a malformed line is
  skipped with a warning naming its file and line.
- A host certificate from a CA of a matching ``@cert-authority`` line is accepted; an expired one,
  one for another host, one whose CA is not trusted (then the plain key is judged: unknown) are
  refused.
- A key in a matching ``@revoked`` line is refused even when another file pins it, naming the
  file, line and host; so is a certificate whose CA is revoked."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from tests.support.examples import example_profile
from tests.support.sshd import host_certificate, keygen, new_key, openssh_accepts, running_sshd
from wizard.engine.connector import SshConnector
from wizard.engine.events import Event
from wizard.engine.hostkeys import HostKeyError
from wizard.engine.knownhosts import check_host_certificate, parse_certificate
from wizard.engine.model import ApplyOptions, Secrets
from wizard.paths import known_hosts_file

MALFORMED = "|1|not-base64| ssh-ed25519 AAAA!!!"


def one_node_profile(sshd, known_hosts: Path | None):
    base = example_profile("local-nginx")
    master = dataclasses.replace(
        base.masters[0],
        address="127.0.0.2",  # never dialled: the node's ssh.host is the stand-in
        ssh=type(base.masters[0].ssh)(host="127.0.0.1", port=sshd.port, user="root"),
    )
    ssh = dataclasses.replace(
        base.ssh,
        key_file=str(sshd.client_key),
        known_hosts=str(known_hosts) if known_hosts else None,
        bastion=None,
    )
    return dataclasses.replace(base, masters=(master,), workers=(), ssh=ssh)


def open_node(profile, **options) -> list[Event]:
    """Open the profile's one node as a run does; returns the events. Raises what it raises."""
    events: list[Event] = []
    connector = SshConnector(
        profile, ApplyOptions(connect_timeout=20, **options), Secrets(), emit=events.append
    )
    try:
        node = connector(profile.masters[0].name)()
        try:
            assert node.transport.privilege == "root"
            assert node.run(["id", "-u"]).stdout.strip() == "0"
        finally:
            node.transport.close()
    finally:
        connector.close()
    return events


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca"
    new_key(path)
    return path


def ca_line(ca: Path, patterns: str) -> str:
    return f"@cert-authority {patterns} {ca.with_name(ca.name + '.pub').read_text().strip()}"


def test_markers_and_malformed_lines_no_longer_stop_kubeha_and_a_ca_signed_host_is_trusted(
    tmp_path, ca, _private_home
):
    host_key = tmp_path / "host"
    new_key(host_key)
    cert = host_certificate(ca, host_key, "127.0.0.1,m1")
    other = tmp_path / "other"
    revoked_other = f"@revoked * {new_key(other)}"
    with running_sshd(tmp_path / "sshd", certificate=cert, host_key=host_key) as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(
            "\n".join(
                [
                    "# the operator's file",
                    revoked_other,
                    MALFORMED,
                    ca_line(ca, "127.0.0.*,[127.0.0.1]:*"),
                    "@bogus-marker host ssh-ed25519 AAAA",
                ]
            )
            + "\n"
        )
        assert openssh_accepts(sshd, known)[0]  # OpenSSH logs in with this file
        events = open_node(one_node_profile(sshd, None))
        said = [e.message for e in events]
        assert (
            f"warning: {known} line 3: skipped: the ssh-ed25519 key is not valid base64 key data"
            in said
        )
        assert any(
            f"warning: {known} line 5: skipped: unknown marker '@bogus-marker'" in m for m in said
        )
        assert not known_hosts_file().exists()  # trusted through the CA: nothing pinned


@pytest.mark.parametrize(
    ("principals", "validity", "trusted_ca", "why"),
    [
        ("127.0.0.1", "-2h:-1h", True, "it has expired"),
        ("node9.example", "-5m:+1h", True, "it is for node9.example, not 127.0.0.1"),
        ("127.0.0.1", "-5m:+1h", False, "is not known"),  # not our CA: the plain key is new
    ],
)
def test_a_certificate_openssh_refuses_is_refused_with_the_reason(
    tmp_path, ca, _private_home, principals, validity, trusted_ca, why
):
    host_key = tmp_path / "host"
    new_key(host_key)
    signer = ca
    if not trusted_ca:
        signer = tmp_path / "rogue-ca"
        new_key(signer)
    cert = host_certificate(signer, host_key, principals, validity)
    with running_sshd(tmp_path / "sshd", certificate=cert, host_key=host_key) as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(ca_line(ca, "*") + "\n")
        assert not openssh_accepts(sshd, known)[0]
        with pytest.raises(HostKeyError, match=why) as info:
            open_node(one_node_profile(sshd, None))
        if trusted_ca:
            assert f"from the CA in {known} line 1 is refused" in str(info.value)


def test_a_revoked_key_is_refused_even_when_pinned_naming_file_line_and_host(
    tmp_path, _private_home
):
    with running_sshd(tmp_path / "sshd") as sshd:
        pinned = _private_home / ".ssh" / "known_hosts"
        pinned.write_text(sshd.known_line() + "\n")
        assert openssh_accepts(sshd, pinned)[0]
        open_node(one_node_profile(sshd, None))  # pinned: opens

        fleet = tmp_path / "fleet_known_hosts"  # e.g. the profile's ssh.known_hosts
        fleet.write_text("# revoked after the incident\n" + sshd.known_line("@revoked", "*") + "\n")
        both = tmp_path / "both"
        both.write_text(pinned.read_text() + fleet.read_text())
        ok, said = openssh_accepts(sshd, both)
        assert not ok and "REVOKED" in said
        with pytest.raises(HostKeyError) as info:
            open_node(one_node_profile(sshd, fleet), trust_new_host_keys=True)
        text = str(info.value)
        assert f"host key for {sshd.name} (ssh-ed25519 " in text
        assert f"is REVOKED in {fleet} line 2" in text


def test_a_certificate_whose_ca_is_revoked_is_refused(tmp_path, ca, _private_home):
    host_key = tmp_path / "host"
    new_key(host_key)
    cert = host_certificate(ca, host_key, "127.0.0.1")
    with running_sshd(tmp_path / "sshd", certificate=cert, host_key=host_key) as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        ca_public = ca.with_name("ca.pub").read_text().strip()
        known.write_text(ca_line(ca, "*") + f"\n@revoked * {ca_public}\n")
        assert not openssh_accepts(sshd, known)[0]
        with pytest.raises(HostKeyError, match=f"signed by a CA that is REVOKED in {known} line 2"):
            open_node(one_node_profile(sshd, None))


def test_hashed_wildcard_and_negated_names_match_as_openssh_matches_them(tmp_path, _private_home):
    with running_sshd(tmp_path / "sshd") as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(sshd.known_line() + "\n")
        keygen("-H", "-f", str(known))  # HashKnownHosts, Debian's default
        assert known.read_text().startswith("|1|")
        assert openssh_accepts(sshd, known)[0]
        open_node(one_node_profile(sshd, None))

        known.write_text(sshd.known_line(patterns="[127.0.0.?]:*") + "\n")
        assert openssh_accepts(sshd, known)[0]
        open_node(one_node_profile(sshd, None))

        known.write_text(sshd.known_line(patterns=f"[127.0.0.*]:*,!{sshd.name}") + "\n")
        assert not openssh_accepts(sshd, known)[0]
        with pytest.raises(HostKeyError, match="is not known"):
            open_node(one_node_profile(sshd, None))


@pytest.mark.parametrize(
    ("host_type", "ca_type"),
    [("rsa", "rsa"), ("ecdsa", "ecdsa"), ("ed25519", "rsa"), ("rsa", "ed25519")],
)
def test_every_key_and_ca_type_openssh_makes_is_checked(
    tmp_path, _private_home, host_type, ca_type
):
    ca = tmp_path / "ca"
    keygen("-t", ca_type, "-N", "", "-f", str(ca))
    host_key = tmp_path / "host"
    keygen("-t", host_type, "-N", "", "-f", str(host_key))
    cert = host_certificate(ca, host_key, "127.0.0.1")
    with running_sshd(tmp_path / "sshd", certificate=cert, host_key=host_key) as sshd:
        known = _private_home / ".ssh" / "known_hosts"
        known.write_text(ca_line(ca, "*") + "\n")
        assert openssh_accepts(sshd, known)[0]
        open_node(one_node_profile(sshd, None))
        assert not known_hosts_file().exists()


def test_a_certificate_altered_after_signing_is_refused(tmp_path, ca):
    host_key = tmp_path / "host"
    new_key(host_key)
    cert_file = host_certificate(ca, host_key, "127.0.0.1")
    blob = base64.b64decode(cert_file.read_text().split()[1])
    cert = parse_certificate(blob)
    assert check_host_certificate(cert, "127.0.0.1") == (True, "")
    assert check_host_certificate(cert, "127.0.0.2")[1] == "it is for 127.0.0.1, not 127.0.0.2"
    keygen("-s", str(ca), "-h", "-I", "any", str(host_key) + ".pub")  # no principals (-n)
    anyone = parse_certificate(base64.b64decode(cert_file.read_text().split()[1]))
    assert anyone.principals == () and check_host_certificate(anyone, "10.9.9.9") == (True, "")
    forged = blob.replace(b"127.0.0.1", b"127.0.0.2")  # same length: only the signature breaks
    assert check_host_certificate(parse_certificate(forged), "127.0.0.2") == (
        False,
        "the CA's signature does not verify",
    )
