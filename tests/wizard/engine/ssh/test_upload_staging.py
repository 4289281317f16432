"""The upload staging folders (``/tmp/.kubeha-*``) a dropped connection leaves on a node are
removed by kubeha's next connection that uploads there, against a real OpenSSH sshd
(tests/support/sshd.py) whose sessions see a /tmp of their own: only folders kubeha's staging
proves its own (name, a real folder owned by the login user, 0700, its mark naming an sshd
session that no longer runs) go; a live connection's folder and anything else stay."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sshd import Sshd, running_sshd
from wizard.engine.transport import STAGING_MARK, SshTransport


@pytest.fixture
def sshd(_private_home) -> Iterator[Sshd]:
    folder = Path(tempfile.mkdtemp(prefix="kubeha-sshd-", dir="/var/tmp"))
    try:
        with running_sshd(folder, private_tmp=True) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def opened(sshd: Sshd) -> SshTransport:
    return sshd.transport()


def staging_of(transport: SshTransport) -> str:
    transport.put(b"x\n", "/root/.kubeha-test-upload", 0o600)
    folder = transport._staging
    assert folder is not None and folder.startswith("/tmp/.kubeha-")
    return folder


def listing(transport: SshTransport) -> set[str]:
    out = transport.run(["sh", "-c", "ls -d /tmp/.kubeha-* /tmp/.kubeha* 2>/dev/null | sort -u"])
    return set(out.stdout.split())


def test_a_dropped_connections_staging_folder_is_swept_by_the_next_upload_and_nothing_else(
    sshd,
):
    dropped = opened(sshd)
    stale = staging_of(dropped)
    mark = dropped.run(["cat", f"{stale}/{STAGING_MARK}"]).stdout.split()
    assert len(mark) == 2 and all(w.isdigit() for w in mark), mark  # the session's PID, start
    dropped.connection.client.get_transport().close()  # the network gone: close cannot clean
    dropped.close()

    with contextlib.closing(opened(sshd)) as keeper:  # uploads nothing until the end
        # Alike by name only: no mark; a mark in a folder of another owner, of another mode,
        # behind a link; a name mktemp never makes; a marked file, not a folder.
        keeper.run(["sh", "-c", "mkdir -m 700 /tmp/.kubeha-unmarked1"])
        for name, owner, mode in (("owner0001", "65534", "700"), ("modeopen01", "0", "755")):
            folder = f"/tmp/.kubeha-{name}"
            keeper.run(["sh", "-c", f"mkdir {folder} && echo '1 1' > {folder}/{STAGING_MARK}"])
            keeper.run(["sh", "-c", f"chmod {mode} {folder} && chown -R {owner} {folder}"])
        keeper.run(["sh", "-c", "mkdir -m 700 /tmp/.kubeha-x && echo '1 1' > /tmp/.kubeha-x/m"])
        real = "/tmp/real"
        keeper.run(["sh", "-c", f"mkdir -m 700 {real} && echo '1 1' > {real}/{STAGING_MARK}"])
        keeper.run(["ln", "-s", real, "/tmp/.kubeha-linklink1"])
        keeper.run(["sh", "-c", "echo '1 1' > /tmp/.kubeha-aplainfile"])
        others = {
            "/tmp/.kubeha-unmarked1",
            "/tmp/.kubeha-owner0001",
            "/tmp/.kubeha-modeopen01",
            "/tmp/.kubeha-x",
            "/tmp/.kubeha-linklink1",
            "/tmp/.kubeha-aplainfile",
        }
        assert listing(keeper) == {stale, *others}  # the drop left it (as on the lab's m1)

        with contextlib.closing(opened(sshd)) as live:
            alive = staging_of(live)  # the next connection that uploads sweeps
            assert listing(keeper) == {alive, *others}

            fresh = staging_of(keeper)  # a live connection's folder is kept
            assert listing(keeper) == {alive, fresh, *others}
            assert keeper.run(["test", "-f", f"{real}/{STAGING_MARK}"]).ok

    with contextlib.closing(opened(sshd)) as last:  # a clean close still removes its own
        assert listing(last) == others


def test_a_commands_stdin_arrives_whole(sshd):
    """What kubeha writes to a command's stdin (a kubectl patch, the agent's objects, the sudo
    password) reaches it whole, then EOF. invoke alone fed a stream one byte per 10 ms: 20 kB
    would take 200 s, past this command's limit (a 1.2 kB patch took 12 s on the lab)."""
    data = "".join(f"{i:08d}\n" for i in range(2000))  # 18 kB
    with contextlib.closing(opened(sshd)) as transport:
        result = transport.run(["sh", "-c", "sha256sum"], stdin=data, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == hashlib.sha256(data.encode()).hexdigest()
