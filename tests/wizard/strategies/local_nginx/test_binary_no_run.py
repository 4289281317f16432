"""``install.binary_path`` is never run by a dry run: only read and judged by its ELF header. The
real apply refuses what is not a Linux ELF executable, and says what it runs before it runs it.

The CLI runs in a subprocess under ``unshare -n``: past the build phase a dry run connects to the
nodes, and in an empty network namespace no packet can leave this machine."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.offline import NEEDS_UNSHARE, kubeha_offline
from wizard.profile_io import load_profile
from wizard.strategies.local_nginx.nginx_build.build import BuildFailed
from wizard.strategies.local_nginx.nginx_build.elf import NotAnExecutable, read_header, this_machine
from wizard.strategies.local_nginx.nginx_build.phase import operator_binary

NEEDS_CC = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")

PROFILE = """name = "binary-check"
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
[install]
method = "binary"
binary_path = "{binary}"
[ssh]
user = "root"
"""

FAKE_NGINX_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int fd = open(MARKER, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
    puts("nginx version: nginx/1.0");
    puts("configure arguments: --with-stream --without-http");
    return 0;
}
"""


def script_that_leaves(marker: Path, folder: Path) -> Path:
    script = folder / "kube-nginx.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho 'configure arguments: --with-stream'\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def open_folder():
    """A folder nobody may enter (pytest's own are 0700): the binary runs as nobody."""
    folder = Path(tempfile.mkdtemp(prefix="kubeha-binary-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def elf_that_leaves(marker: Path, folder: Path) -> Path:
    """A real ELF executable for this machine that creates ``marker`` whenever it runs."""
    source = folder / "fake.c"
    source.write_text(FAKE_NGINX_C)
    binary = folder / "kube-nginx"
    subprocess.run(
        ["cc", f'-DMARKER="{marker}"', "-o", str(binary), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    binary.chmod(0o755)
    return binary


@NEEDS_UNSHARE
def test_a_dry_run_does_not_run_a_script_named_as_the_binary(tmp_path, write_toml):
    marker = tmp_path / "it-ran"
    path = write_toml(PROFILE.format(binary=script_that_leaves(marker, tmp_path)))
    result = kubeha_offline(tmp_path, "apply", str(path), "--dry-run")
    assert not marker.exists(), result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is a script (it starts with #!); expected a Linux ELF executable" in result.stdout


@NEEDS_UNSHARE
@NEEDS_CC
def test_a_dry_run_does_not_run_a_real_executable_either(tmp_path, write_toml, open_folder):
    marker = open_folder / "it-ran"
    binary = elf_that_leaves(marker, open_folder)
    path = write_toml(PROFILE.format(binary=binary))
    result = kubeha_offline(tmp_path, "apply", str(path), "--dry-run")
    assert not marker.exists(), result.stdout + result.stderr
    assert "a dry run does not run it" in result.stdout
    assert "Traceback" not in result.stderr


@NEEDS_UNSHARE
def test_the_real_apply_refuses_a_script_before_running_it(tmp_path, write_toml):
    marker = tmp_path / "it-ran"
    path = write_toml(PROFILE.format(binary=script_that_leaves(marker, tmp_path)))
    result = kubeha_offline(tmp_path, "apply", str(path), "--yes")
    assert not marker.exists()
    assert result.returncode == 1 and "no node was touched" in result.stdout
    assert "expected a Linux ELF executable" in result.stdout


@NEEDS_CC
def test_the_real_check_says_what_it_runs_first_and_runs_it_unprivileged(
    tmp_path, write_toml, open_folder
):
    marker = open_folder / "it-ran"
    binary = elf_that_leaves(marker, open_folder)
    said: list[str] = []
    profile = load_profile(write_toml(PROFILE.format(binary=binary)))
    operator_binary(profile, lambda word, message, lines: said.append(message))
    announced = f"running {binary} -V{' as nobody' if os.geteuid() == 0 else ''}"
    assert said[0] == f"{announced} to check the stream module"
    assert said[1] == "nginx version: nginx/1.0"  # its output, after the announcement
    ran_as = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert marker.stat().st_uid == ran_as  # root hands the operator's binary to nobody


@NEEDS_CC
def test_a_binary_for_another_machine_is_not_run_here(tmp_path, write_toml, open_folder):
    marker = open_folder / "it-ran"
    binary = elf_that_leaves(marker, open_folder)
    data = bytearray(binary.read_bytes())
    other = 183 if this_machine() != "aarch64" else 62  # aarch64, or x86-64 on an aarch64 host
    data[18:20] = other.to_bytes(2, "little" if data[5] == 1 else "big")
    binary.write_bytes(bytes(data))
    said: list[str] = []
    profile = load_profile(write_toml(PROFILE.format(binary=binary)))
    operator_binary(profile, lambda word, message, lines: said.append(message))
    assert not marker.exists()
    assert "not for this machine" in said[0] and "each node checks it" in said[0]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "not an ELF file"),
        (b"#!/bin/sh\n", "a script"),
        (b"\x7fELF\x02\x01", "a truncated ELF header"),
        (b"\x7fELF\x07\x01" + bytes(14), "unknown class 7"),
        (b"\x7fELF\x02\x01" + bytes(10) + b"\x01\x00\x3e\x00", "type 1 (not a program"),
        (b"\x7fELF\x02\x01" + bytes(10) + b"\x02\x00\x99\x00", "for machine 153"),
    ],
)
def test_the_header_is_judged_without_running_anything(content, expected):
    with pytest.raises(NotAnExecutable, match=re.escape(expected)):
        read_header(content)


def test_this_machine_s_own_programs_pass():
    header = read_header(Path(sys.executable).resolve().read_bytes()[:64])
    assert header.runs_on(this_machine())


@pytest.mark.parametrize("kind", ["fifo", "folder", "missing"])
def test_only_a_regular_file_is_read(tmp_path, write_toml, kind):
    path = tmp_path / "kube-nginx"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would hang
    elif kind == "folder":
        path.mkdir()
    profile = load_profile(write_toml(PROFILE.format(binary=path)))
    with pytest.raises(BuildFailed, match=re.escape("install.binary_path: ")):
        operator_binary(profile, lambda *_: None, dry_run=True)
