"""``kubeha render --out DIR`` never deletes what it did not write: it refuses a non-empty folder
that is not a previous render, a symlinked folder, anything in its way, and puts the old files
back when writing fails half-way."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wizard import render_out
from wizard.cli import main
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.render_out import MANIFEST

HAPROXY = str(EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml")
NGINX = str(EXAMPLE_PROFILES_DIR / "local-nginx.toml")


def snapshot(root: Path) -> dict[str, object]:
    """Every entry below ``root``: a file's bytes and mode, a folder, a symlink's target."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return found


def render(profile: str, out: Path) -> int:
    return main(["render", profile, "--out", str(out)])


def test_out_dot_with_the_profile_in_it_is_refused(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NGINX, work / "mine.toml")
    (work / "notes.txt").write_text("keep me\n")
    before = snapshot(work)
    result = subprocess.run(
        [sys.executable, "-m", "wizard", "render", "mine.toml", "--out", "."],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert f"--out . ({work})" in result.stderr
    assert (
        "not a previous kubeha render" in result.stderr and "choose a new folder" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert snapshot(work) == before


def test_a_home_like_folder_is_refused_and_untouched(tmp_path, capsys):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/id_ed25519").write_text("secret\n")
    (home / ".bashrc").write_text("alias k=kubectl\n")
    before = snapshot(home)
    assert render(NGINX, home) == 2
    assert f"--out {home}: the folder is not empty" in capsys.readouterr().err
    assert snapshot(home) == before


def test_a_new_or_empty_folder_is_written_with_a_manifest(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert render(NGINX, empty) == 0
    record = json.loads((empty / MANIFEST).read_text())
    assert record["format"] == "kubeha-render" and record["kubeha_version"]
    written = sorted(
        str(p.relative_to(empty)) for p in empty.rglob("*") if p.is_file() and p.name != MANIFEST
    )
    assert record["files"] == written
    assert render(NGINX, tmp_path / "a/new/folder") == 0


def test_a_symlinked_folder_is_refused_not_followed(tmp_path, capsys):
    real = tmp_path / "real"
    assert render(HAPROXY, real) == 0  # even a previous render behind the link stays as it is
    before = snapshot(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert render(NGINX, link) == 2
    assert f"--out {link}: is a symbolic link" in capsys.readouterr().err
    assert snapshot(real) == before and link.is_symlink()


def test_a_symlink_inside_a_previous_render_is_not_written_through(tmp_path, capsys):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert render(NGINX, out) == 0
    shutil.copytree(out / "master1", elsewhere)
    shutil.rmtree(out / "master1")
    (out / "master1").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    assert render(NGINX, out) == 2
    assert "master1 is a symbolic link" in capsys.readouterr().err
    assert snapshot(elsewhere) == before


def test_a_stale_file_behind_a_symlinked_folder_is_left_alone(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert render(HAPROXY, out) == 0
    shutil.copytree(out / "master1/etc/keepalived", elsewhere)
    shutil.rmtree(out / "master1/etc/keepalived")
    (out / "master1/etc/keepalived").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    assert render(NGINX, out) == 0  # keepalived's files are stale, but not reached through links
    assert snapshot(elsewhere) == before


def test_the_sibling_old_folder_is_not_deleted(tmp_path):
    out = tmp_path / "out"
    old = tmp_path / ".out.old"
    old.mkdir()
    (old / "precious").write_text("mine\n")
    assert render(NGINX, out) == 0
    assert render(HAPROXY, out) == 0
    assert (old / "precious").read_text() == "mine\n"


def test_a_render_again_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "out"
    assert render(HAPROXY, out) == 0
    (out / "notes.txt").write_text("mine\n")
    (out / "master1/etc/keepalived/my-extra.conf").write_text("mine too\n")
    assert render(NGINX, out) == 0
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "master1/etc/keepalived/my-extra.conf").read_text() == "mine too\n"
    assert not (out / "master1/etc/keepalived/keepalived.conf").exists()  # stale, kubeha's own
    assert not (out / "master1/etc/haproxy").exists()  # emptied: removed
    assert (out / "master1/etc/kube-nginx/kube-nginx.conf").is_file()
    assert "notes.txt" not in json.loads((out / MANIFEST).read_text())["files"]
    assert not [p for p in out.rglob("*kubeha-old*")] + [p for p in out.rglob("*kubeha-new*")]


def test_a_file_of_someone_else_in_the_way_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert render(HAPROXY, out) == 0
    theirs = out / "master1/etc/kube-nginx/kube-nginx.conf"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("hand-written\n")
    before = snapshot(out)
    assert render(NGINX, out) == 2
    assert "master1/etc/kube-nginx/kube-nginx.conf is in the way" in capsys.readouterr().err
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "manifest",
    [
        '{"format": "kubeha-render", "files": ["../victim"]}',
        '{"format": "kubeha-render", "files": ["/etc/passwd"]}',
        '{"files": []}',
        "not json",
        "[" * 100000,
    ],
    ids=["parent-path", "absolute-path", "no-format", "not-json", "deeply-nested"],
)
def test_a_forged_or_broken_manifest_is_refused(tmp_path, capsys, manifest):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(manifest)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    assert render(NGINX, out) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: {MANIFEST} is not a kubeha render manifest" in err
    assert victim.read_text() == "keep\n" and (out / MANIFEST).read_text() == manifest


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x\n")
    assert render(NGINX, target) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert target.read_text() == "x\n"


@pytest.mark.parametrize("fail_at", [1, 5, 12, 30])
def test_a_write_failing_half_way_puts_the_old_files_back(tmp_path, monkeypatch, capsys, fail_at):
    out = tmp_path / "out"
    assert render(HAPROXY, out) == 0
    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    real_rename, calls = os.rename, []

    def failing_rename(src, dst):
        calls.append(src)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(render_out.os, "rename", failing_rename)
    assert render(NGINX, out) == 2
    assert "cannot write: No space left on device" in capsys.readouterr().err
    monkeypatch.setattr(render_out.os, "rename", real_rename)
    assert snapshot(out) == before


def test_a_new_folder_whose_write_fails_is_not_left_behind(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_chmod, calls = os.chmod, []

    def failing_chmod(path, mode):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        return real_chmod(path, mode)

    monkeypatch.setattr(render_out.os, "chmod", failing_chmod)
    assert render(NGINX, out) == 2
    assert not out.exists()


@pytest.mark.parametrize("fail_at", [2, 7, 8, 9, 12])
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_folders_made_before_a_failing_mkdir_are_not_left_behind(
    tmp_path, monkeypatch, fail_at, failure
):
    """Ctrl-C (or a full disk) between two folders of one path: the folders already made are
    removed too; before, they stayed and render refused its own half-made --out next time."""
    out = tmp_path / "out"
    real_mkdir, calls = os.mkdir, []

    def failing_mkdir(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == fail_at:
            raise failure
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(render_out.os, "mkdir", failing_mkdir)
    with contextlib.suppress(KeyboardInterrupt):
        assert render(NGINX, out) in (2, 130)
    monkeypatch.setattr(render_out.os, "mkdir", real_mkdir)
    assert len(calls) >= fail_at
    assert not out.exists(), sorted(str(p.relative_to(out)) for p in out.rglob("*"))


# --- a folder another local user can change is refused --------------------------------------


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def _modes(root: Path) -> set[int]:
    return {stat.S_IMODE(os.lstat(p).st_mode) for p in [root, *root.rglob("*")] if p.is_dir()}


def test_folders_render_makes_are_0755_whatever_the_umask(tmp_path, open_umask):
    out = tmp_path / "new" / "deeper" / "out"
    assert render(NGINX, out) == 0
    assert _modes(tmp_path / "new") == {0o755}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) & 0o022 == 0 for p in files)


def test_a_new_folder_in_a_sticky_shared_one_like_tmp_is_taken(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    assert render(NGINX, shared / "kubeha-render") == 0


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_out_below_a_folder_others_can_write_is_refused(tmp_path, capsys, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    assert render(NGINX, shared / "out") == 2
    err = capsys.readouterr().err
    assert f"{shared}" in err and f"mode {mode:04o}" in err and "another user could swap" in err
    assert list(shared.iterdir()) == []


def test_an_out_folder_others_can_write_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    assert render(NGINX, out) == 2
    assert "can be written by every user (mode 0777)" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_a_folder_of_the_last_render_that_others_can_write_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert render(NGINX, out) == 0
    before = snapshot(out)
    (out / "_cluster").chmod(0o777)  # as an old render under umask 000 left it
    assert render(NGINX, out) == 2
    assert "_cluster can be written by every user" in capsys.readouterr().err
    assert snapshot(out) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_of_another_user_is_refused(tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    assert render(NGINX, theirs) == 2
    assert "belongs to another user (uid 65534)" in capsys.readouterr().err
    above = tmp_path / "above"
    above.mkdir()
    os.chown(above, 65534, 65534)
    assert render(NGINX, above / "out") == 2
    assert not (above / "out").exists()
