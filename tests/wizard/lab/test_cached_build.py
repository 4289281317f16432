"""The lab's cached builds (rootfs, kubeadm node layer, balancer images) share one helper:
built once, atomic (a work folder renamed into place, removed on failure), older entries of the
same build that nothing mounts removed, others' entries left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.lab.cached_build import cached_build
from wizard.lab.errors import LabError


def stamped(folder: Path) -> bool:
    return (folder / "stamp").is_file()


def test_built_once_into_place_and_only_its_own_unused_entries_removed(tmp_path: Path):
    for name in ("thing-old1", ".thing-old2.build-99", "other-1", "thing.lock"):
        (tmp_path / name).mkdir() if "lock" not in name else (tmp_path / name).write_text("")
    path, builds, seen = tmp_path / "thing-new", [], []

    def build(work: Path) -> None:
        builds.append(work)
        seen.append(sorted(p.name for p in tmp_path.iterdir()))  # during the build
        work.mkdir()
        (work / "stamp").write_text("x")

    def again() -> bool:
        return cached_build(
            path,
            prefix="thing-",
            lock=tmp_path / "thing.lock",
            done=stamped,
            build=build,
            log=print,
        )

    assert again() is True
    assert again() is False  # cached: no second build
    assert len(builds) == 1 and builds[0].name.startswith(".thing-new.build-")
    assert seen == [["other-1", "thing.lock"]]  # older builds and half-built ones gone first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-1", "thing-new", "thing.lock"]


def test_a_failed_build_leaves_nothing_and_a_broken_entry_is_rebuilt(tmp_path: Path):
    path, tidied = tmp_path / "thing-k", []
    (path / "half").mkdir(parents=True)  # there, but not done: rebuilt

    def failing(work: Path) -> None:
        work.mkdir()
        (work / "partial").write_text("")

    with pytest.raises(LabError, match="not complete"):
        cached_build(
            path,
            prefix="thing-",
            lock=tmp_path / "thing.lock",
            done=stamped,
            build=failing,
            on_failure=tidied.append,
            log=lambda line: None,
        )
    assert len(tidied) == 1 and not tidied[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.lock"]
