"""A real OpenSSH sshd stand-in on loopback, for the claims about OpenSSH's own behaviour (host
certificates, known_hosts markers, what ``ssh -G`` resolves) without the lab.

The sshd binary is the host's (``/usr/sbin/sshd``) or Debian's ``openssh-server`` package
unpacked once with ``dpkg -x`` into /var/cache/kubeha/openssh-server (never installed into /).
It listens on ``127.0.0.1:<free port>`` and runs as root in a mount namespace of its own
(``unshare -m``) where /etc/passwd is a copy with sshd's privilege-separation user added and /run
is an empty tmpfs: nothing on the host changes. Logins are root with the test's key only; the
test runs nothing on it but what kubeha runs to open a node (``id -u``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wizard.engine.transport import SshTransport

CACHE = Path("/var/cache/kubeha/openssh-server")
PACKAGES = ("openssh-server", "openssh-sftp-server")
START_DEADLINE = 30.0


def _unpacked() -> Path | None:
    sshd = CACHE / "usr/sbin/sshd"
    return sshd if sshd.is_file() else None


def sshd_binary() -> Path:
    """The sshd to run (the host's, else the unpacked package's), fetched once if needed."""
    if Path("/usr/sbin/sshd").is_file():
        return Path("/usr/sbin/sshd")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the sshd stand-in needs root and unshare")
    found = _unpacked()
    if found is not None:
        return found
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / "openssh-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _unpacked()
        if found is not None:
            return found
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # apt's _apt user writes the download here
            got = subprocess.run(
                ["apt-get", "download", "-q", *PACKAGES],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=300,
            )
            debs = sorted(Path(tmp).glob("*.deb"))
            if got.returncode != 0 or len(debs) != len(PACKAGES):
                pytest.skip(f"cannot download {' '.join(PACKAGES)}: {got.stderr.strip()[-300:]}")
            staging = Path(tempfile.mkdtemp(dir=CACHE.parent, prefix=".openssh-server-"))
            for deb in debs:
                subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True, timeout=120)
            os.replace(staging, CACHE)
    found = _unpacked()
    assert found is not None
    return found


def keygen(*args: str) -> None:
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True, timeout=60)


def new_key(path: Path) -> str:
    """An ed25519 key pair at ``path``; returns the public line."""
    keygen("-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path))
    return path.with_name(path.name + ".pub").read_text().strip()


def host_certificate(
    ca: Path, host_key: Path, principals: str, validity: str = "-5m:+1h", key_id: str = "node"
) -> Path:
    """``ssh-keygen -s CA -h``: a host certificate for ``host_key`` (returns the -cert.pub)."""
    keygen("-s", str(ca), "-h", "-I", key_id, "-n", principals, "-V", validity, f"{host_key}.pub")
    return host_key.with_name(host_key.name + "-cert.pub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    folder: Path
    port: int
    host_key: Path
    client_key: Path  # root's key (authorized)
    log: Path

    @property
    def name(self) -> str:
        """How known_hosts names it."""
        return f"[127.0.0.1]:{self.port}"

    def host_public(self) -> list[str]:
        return self.host_key.with_name(self.host_key.name + ".pub").read_text().split(" ")[:2]

    def known_line(self, marker: str = "", patterns: str | None = None) -> str:
        kind, blob = self.host_public()
        head = f"{marker} " if marker else ""
        return f"{head}{patterns or self.name} {kind} {blob}"

    def transport(self) -> SshTransport:
        """kubeha's SSH transport to this sshd as root, opened (its host key trusted on first
        use, into the sshd's folder)."""
        from wizard.engine.transport import SshDestination, SshTransport

        target = SshDestination(
            "n1",
            "127.0.0.1",
            self.port,
            "root",
            str(self.client_key),
            str(self.folder / "known_hosts"),
            False,
        )
        transport = SshTransport(target, trust_new_host_keys=True, connect_timeout=20)
        transport.open()
        return transport


@contextlib.contextmanager
def running_sshd(
    folder: Path,
    *,
    certificate: Path | None = None,
    host_key: Path | None = None,
    authorized: list[str] | None = None,
    client_authorized: bool = True,
    max_auth_tries: int = 6,
    private_tmp: bool = False,
) -> Iterator[Sshd]:
    """sshd on 127.0.0.1:<free port> with ``host_key`` (made if None) and its certificate,
    accepting root with a key made here (unless not ``client_authorized``) and any
    ``authorized`` public lines; stopped at the end, by its PID. ``private_tmp``: its sessions
    see an empty tmpfs as /tmp (``folder`` must then be outside /tmp)."""
    if private_tmp and folder.resolve().is_relative_to("/tmp"):
        raise ValueError(f"{folder}: with a private /tmp, the sshd's folder must be outside /tmp")
    binary = sshd_binary()
    folder.mkdir(parents=True, exist_ok=True)
    if host_key is None:
        host_key = folder / "host_ed25519"
        new_key(host_key)
    client_key = folder / "client_ed25519"
    client_line = new_key(client_key)
    lines = [*([client_line] if client_authorized else []), *(authorized or [])]
    (folder / "authorized_keys").write_text("\n".join(lines) + "\n")
    passwd = folder / "passwd"
    passwd.write_text(
        Path("/etc/passwd").read_text() + "sshd:x:64999:65534::/run/sshd:/usr/sbin/nologin\n"
    )
    sftp = binary.parent.parent / "lib/openssh/sftp-server"
    port = free_port()
    config = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "LogLevel VERBOSE",
        f"MaxAuthTries {max_auth_tries}",
        f"Subsystem sftp {sftp}",
    ]
    if certificate is not None:
        config.append(f"HostCertificate {certificate}")
    (folder / "sshd_config").write_text("\n".join(config) + "\n")
    log = folder / "sshd.log"
    script = (
        f"mount --bind {passwd} /etc/passwd && mount -t tmpfs tmpfs /run && "
        + ("mount -t tmpfs -o mode=1777 tmpfs /tmp && " if private_tmp else "")
        + f"mkdir -m 755 /run/sshd && exec {binary} -D -e -f {folder / 'sshd_config'}"
    )
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_DEADLINE
        while "Server listening" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sshd did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Sshd(folder, port, host_key, client_key, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def openssh_accepts(sshd: Sshd, known_hosts: Path, *options: str) -> tuple[bool, str]:
    """Whether OpenSSH's own ``ssh`` (strict host key checking, batch mode) logs in with only
    ``known_hosts``, and what it said: the reference kubeha is held to."""
    proc = subprocess.run(
        [
            "ssh",
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(sshd.client_key),
            "-p",
            str(sshd.port),
            *options,
            "root@127.0.0.1",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode == 0, proc.stderr
