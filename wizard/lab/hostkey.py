"""Make a lab node's SSH host key change, as a reinstalled node's (or an attacker's) would, and
put the lab's own key back afterwards.

:func:`change` writes a freshly generated ed25519 host key into the node and restarts its sshd;
:func:`restore` writes back the key the lab made for it (the one in the lab's known_hosts) and
restarts sshd again. Sessions already open survive both (Debian's sshd unit kills only the
listener). Tests call ``restore`` in a ``finally`` so the rest of the session sees the lab's key.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

from wizard.lab import bastion, pki
from wizard.lab.errors import LabError
from wizard.lab.operator import exec_in
from wizard.lab.state import read_state
from wizard.lab.system import run

KEY = "etc/ssh/ssh_host_ed25519_key"


def _where(name: str) -> tuple[Path, str, int]:
    """(the node's root folder on the host, its SSH host and port from the host)."""
    if name == bastion.NAME:
        from wizard.lab.node import merged_dir

        return merged_dir(name), bastion.Bastion(init_pid=0).ssh_host, bastion.PORT
    state = read_state()
    if state is None:
        raise LabError("no lab is up: run `kubeha lab up` first")
    n = state.node(name)
    return Path(n.merged), n.ssh_host, n.ssh_port


def _install(name: str, private: str, public: str) -> None:
    root, host, port = _where(name)
    for path, text, mode in ((root / KEY, private, 0o600), (root / f"{KEY}.pub", public, 0o644)):
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    exec_in(name, ["systemctl", "restart", "ssh"])
    deadline = time.monotonic() + 15
    while not _answers(host, port):
        if time.monotonic() > deadline:
            raise LabError(f"sshd on {name} did not come back after its host key changed")
        time.sleep(0.1)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def change(name: str) -> str:
    """Give node ``name`` a brand-new host key; returns its public line."""
    with tempfile.TemporaryDirectory(prefix="kubeha-lab-hostkey-") as tmp:
        key = Path(tmp) / "key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)])
        private, public = key.read_text(), key.with_suffix(".pub").read_text()
    _install(name, private, public)
    return public.strip()


def restore(name: str) -> str:
    """Put the lab's own host key back on node ``name``; returns its public line."""
    key, public = pki.ensure_host_key(name)
    _install(name, key.read_text(), key.with_suffix(".pub").read_text())
    return public
