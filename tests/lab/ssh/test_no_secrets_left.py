"""After a real run with a sudo password and an encrypted key's passphrase (both given the way
operators give them: environment variables read by ``kubeha apply``), neither is found in the
run state, the run log, the JSON events, the console, the saved profile or kubeha's known_hosts;
nor on the nodes: not in any process's command line while the run goes on, not in the journal,
not in a file kubeha wrote."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.sshkit import ProcessWatch
from wizard import paths
from wizard.cli import main
from wizard.lab import bastion, operator, pki
from wizard.profile_io import save_profile

pytestmark = pytest.mark.lab

SEARCHED_ON_NODES = ("/etc", "/tmp", "/var/lib/kubeha", "/home/ops", "/root", "/usr/local")


def encrypted_key(folder: Path, passphrase: str) -> tuple[Path, str]:
    """An ed25519 key in OpenSSH format, encrypted with ``passphrase`` (never on a command line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path = folder / "id_ed25519_encrypted"
    path.write_bytes(private)
    path.chmod(0o600)
    path.with_suffix(".pub").write_text(public + " kubeha-test\n")
    return path, public


def files_containing(root: Path, needles: tuple[str, ...]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n[:6]}..." for n in needles if n.encode() in data]
    return found


def test_no_secret_anywhere_after_a_run(access, tmp_path, capfd, monkeypatch):
    lab = access.lab
    names = [n.name for n in lab.nodes]
    passphrase = "kh-pass-" + secrets.token_urlsafe(12)
    key, public = encrypted_key(tmp_path, passphrase)
    for name in [*names, bastion.NAME]:  # ops now logs in only with the encrypted key
        operator.set_keys(name, [public])
    access.set_sudo(dict.fromkeys(names, "password"))
    try:
        profile = access.profile(key_file=str(key))
        saved = save_profile(profile, paths.user_profiles_dir() / f"{profile.name}.toml")
        monkeypatch.setenv("KUBEHA_SSH_PASSPHRASE", passphrase)
        monkeypatch.setenv("KUBEHA_SUDO_PASSWORD", access.password)
        with ProcessWatch([*names, bastion.NAME]) as watch:
            code = main(["apply", profile.name, "--yes", "--json"])
        out, err = capfd.readouterr()
        assert code == 0, out + err
    finally:
        for name in [*names, bastion.NAME]:
            operator.set_keys(name, [pki.public_key()])
        access.mixed_sudo()

    needles = (passphrase, access.password)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events and events[-1]["message"] == "5/5 node(s) ok"
    assert not [n for n in needles if n in out or n in err], "a secret reached the console"
    state = paths.state_dir()
    logs = list(state.rglob("events.jsonl"))
    assert logs and list(state.rglob("state.json"))
    assert files_containing(state, needles) == []  # run state, JSON-lines log, known_hosts
    assert files_containing(paths.config_dir(), needles) == []  # the saved profile
    assert saved.is_file() and "passphrase" not in saved.read_text()
    assert files_containing(Path(os.environ["HOME"]), needles) == []

    assert watch.polls > 3
    leaked = [line for line in watch.seen if any(n in line for n in needles)]
    assert leaked == [], "a secret was on a node's command line"
    pattern = "\n".join(needles) + "\n"
    for name in [*names, bastion.NAME]:  # patterns on stdin: never on the node's command line
        journal = operator.exec_in(
            name,
            [
                "bash",
                "-c",
                "exec 3<&0; journalctl --no-pager -o cat </dev/null | grep -c -F -f /dev/fd/3",
            ],
            input=pattern,
            check=False,
        )
        assert journal.stdout.strip() == "0", f"{name}: a secret is in the journal"
        hits = operator.exec_in(
            name,
            ["grep", "-r", "-l", "-F", "-f", "/dev/stdin", *SEARCHED_ON_NODES],
            input=pattern,
            check=False,
        )
        assert hits.stdout == "", f"{name}: a secret is in {hits.stdout}"
