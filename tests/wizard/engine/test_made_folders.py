"""The folders kubeha makes on a node are recorded when they were not there, and the uninstall
removes exactly those, once empty (``RemoteNode.remove_made_folders``): never a folder that was
there before or that holds anything. The node's real shell, mkdir and rmdir run each command in
a mount namespace of its own where /var/lib and /opt are empty folders of the test."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from wizard.engine.remote import MADE_FOLDERS, UNIT_STATE_DIR, RemoteNode, mkdirs
from wizard.engine.transport import CommandResult

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare"
)


class NamespaceTransport:
    """Each command as root in a mount namespace where /var/lib and /opt are the test's."""

    label = "n1"

    def __init__(self, var_lib: Path, opt: Path) -> None:
        self.binds = f"mount --bind {var_lib} /var/lib && mount --bind {opt} /opt"

    def run(
        self, argv: Sequence[str], *, timeout: float = 120, stdin: str | None = None
    ) -> CommandResult:
        wrapper = f'{self.binds} && exec "$0" "$@"'
        done = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", wrapper, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    def put(self, data: bytes, path: str, mode: int) -> None:
        raise AssertionError("no upload here")

    def close(self) -> None:
        pass


@pytest.fixture
def roots(tmp_path):
    var_lib, opt = tmp_path / "var-lib", tmp_path / "opt"
    var_lib.mkdir()
    opt.mkdir()
    (opt / "there").mkdir()  # a folder that was there before kubeha
    return var_lib, opt


def test_uninstall_removes_the_folders_kubeha_made_once_empty_and_nothing_else(roots):
    var_lib, opt = roots
    node = RemoteNode(NamespaceTransport(var_lib, opt))

    assert node.sh(mkdirs("/opt/made/deep", "/opt/there/sub")).ok
    node.write_private_file("/var/lib/kubeha/journal.json", "{}")
    node.remember_unit_state("kube-x.service", True, False)
    assert node.sh(mkdirs("/opt/made/deep")).ok  # made again: nothing new recorded
    record = (var_lib / "kubeha/made-folders").read_text().splitlines()
    assert sorted(record) == [
        "/opt/made",
        "/opt/made/deep",
        "/opt/there/sub",
        "/var/lib/kubeha",
        UNIT_STATE_DIR,
    ]
    assert (var_lib / "kubeha/made-folders").stat().st_mode & 0o777 == 0o600

    (opt / "made/users-file").write_text("not kubeha's\n")  # put there by someone else
    node.run(["rm", "-f", "/var/lib/kubeha/journal.json", f"{UNIT_STATE_DIR}/kube-x.service"])

    removed = node.remove_made_folders()

    assert removed == [UNIT_STATE_DIR, "/opt/made/deep", "/opt/there/sub"]  # deepest first
    assert (opt / "made/users-file").is_file() and (opt / "there").is_dir()
    assert node.made_folders() == ["/opt/made", "/var/lib/kubeha"]  # kept, still recorded
    assert sorted(p.name for p in (var_lib / "kubeha").iterdir()) == ["made-folders"]

    (opt / "made/users-file").unlink()
    assert node.remove_made_folders() == ["/opt/made", "/var/lib/kubeha"]
    assert sorted(p.name for p in opt.iterdir()) == ["there"]
    assert list(var_lib.iterdir()) == []  # as it was before kubeha
    assert node.remove_made_folders() == []


def test_a_folder_that_was_there_or_is_a_link_is_never_recorded(roots):
    var_lib, opt = roots
    (var_lib / "kubeha").mkdir()
    (opt / "target").mkdir()
    (opt / "link").symlink_to(opt / "target")  # a link the node's owner made
    node = RemoteNode(NamespaceTransport(var_lib, opt))

    assert node.sh(mkdirs("/opt/there", "/opt/link", "/var/lib/kubeha")).ok

    assert not (var_lib / "kubeha/made-folders").exists()
    assert node.remove_made_folders() == []
    assert sorted(p.name for p in opt.iterdir()) == ["link", "target", "there"]
    assert MADE_FOLDERS.startswith("/var/lib/kubeha/")
