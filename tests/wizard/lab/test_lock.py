"""The lab's one way to lock (wizard.lab.lock): held for the block, free after it, whoever takes
it (lab, bastion, qemu, the cache builders). No lab needed: the lock is a file."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from wizard.lab import bastion, cached_build, qemu, qemu_image
from wizard.lab.lock import file_lock, lab_lock


def taken(path: Path) -> bool:
    """Is ``path``'s flock held (by another open file, this process's included)?"""
    with open(path, "w") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False


def test_a_file_lock_is_held_for_the_block_and_freed_after(tmp_path):
    path = tmp_path / "x.lock"
    with file_lock(path):
        assert taken(path)
    assert not taken(path)
    with pytest.raises(RuntimeError), file_lock(path):
        raise RuntimeError("a failed step")
    assert not taken(path)  # freed on the way out of an error too


def test_the_lab_and_its_builders_take_the_public_lock(tmp_path, monkeypatch):
    import wizard.lab.lock as lock

    monkeypatch.setattr(lock, "LAB_DIR", tmp_path)
    monkeypatch.setattr(lock, "LOCK_FILE", tmp_path / "lab.lock")
    with lab_lock():
        assert taken(tmp_path / "lab.lock")
    # bastion takes it from here, not from wizard.lab.lab's private parts
    assert bastion.lab_lock is lab_lock
    assert qemu.file_lock is qemu_image.file_lock is cached_build.file_lock is file_lock
