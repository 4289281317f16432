"""SSH tests: a private HOME for every test (so the real ~/.ssh never takes part), and the lab
extras the lab tests need: the ``ops`` user on every node (sudo with a password on the masters,
without one on the workers) and the bastion, added once for the package's modules and removed
after its last test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sshkit import MIXED_SUDO, Access, clean_slate


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME is an empty folder: no ~/.ssh/config, known_hosts, keys or agent of the machine's."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    for name in ("SSH_AUTH_SOCK", "KUBEHA_SSH_PASSPHRASE", "KUBEHA_SUDO_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="module")
def clean_lab(lab):
    """The lab with nothing of kubeha's on it, for a module that needs free ports."""
    clean_slate(lab)
    return lab


@pytest.fixture(scope="package")
def _bastion_and_ops(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Access]:
    """The bastion up and ``ops`` on every node and on the bastion: set up once for every
    module here that uses it (about 40 s each time), taken down after the package's last test.
    The modules leave them as they found them (keys and sudo modes are put back in their
    ``finally``)."""
    from wizard.lab import bastion, operator, pki

    names = [n.name for n in lab.nodes]
    password = "kh-sudo-" + secrets.token_urlsafe(12)
    jump = bastion.start(log=lambda line: print(f"[lab] {line}"))
    try:
        operator.add(
            [*names, bastion.NAME],
            password=password,
            keys=[pki.public_key()],
            sudo={**{n.name: MIXED_SUDO[n.role] for n in lab.nodes}, bastion.NAME: "none"},
        )
        folder = tmp_path_factory.mktemp("ssh-access")
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(bastion.known_hosts_text(lab.state, jump))
        yield Access(lab, jump, password, known_hosts, folder)
    finally:
        operator.remove([*names, bastion.NAME])
        bastion.stop()


@pytest.fixture(scope="module")
def access(lab, _bastion_and_ops: Access) -> Iterator[Access]:
    """The bastion and ``ops`` (shared by the package's modules), on a lab with nothing of
    kubeha's at the module's start; what the module applied is uninstalled at its end."""
    from tests.support.labkit import lab_profile, uninstall

    clean_slate(lab)
    _bastion_and_ops.mixed_sudo()  # as the bastion's set-up left it, whatever ran before
    try:
        yield _bastion_and_ops
    finally:
        uninstall(lab_profile(lab, "local-nginx"))
