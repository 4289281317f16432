"""The profiles the Start screen offers: the shipped examples and the operator's own.

Reads each .toml with ``wizard.profile_io`` and asks the run state for its last run; a file that
does not parse is still listed, with its first problem, so the operator sees why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.errors import KubehaError
from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir
from wizard.profile import Profile
from wizard.profile_io import ProfileError, load_profile

LastRun = Callable[[str], Any]  # profile name -> RunRecord | None


@dataclass(frozen=True)
class SavedProfile:
    path: Path
    origin: str  # "example" or "yours"
    profile: Profile | None
    error: str = ""
    last_run: Any = None  # wizard.engine.runstate.RunRecord | None

    @property
    def name(self) -> str:
        return self.profile.name if self.profile else self.path.stem

    @property
    def interrupted(self) -> bool:
        return self.last_run is not None and not self.last_run.finished


def default_last_run() -> LastRun:
    """``wizard.engine.runstate.last_run`` when the engine provides it, else "never ran"."""
    try:
        from wizard.engine.runstate import last_run
    except ImportError:
        return lambda name: None
    return last_run


def describe_last_run(record: Any) -> str:
    if record is None:
        return "never run"
    if not record.finished:
        return "interrupted"
    if record.ok:
        return f"ok ({record.nodes_ok} nodes)"
    return f"failed ({record.nodes_failed} of {record.nodes_ok + record.nodes_failed})"


def _read(path: Path, origin: str, last_run: LastRun) -> SavedProfile:
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        return SavedProfile(path, origin, None, str(exc.problems[0]) if exc.problems else str(exc))
    except KubehaError as exc:
        return SavedProfile(path, origin, None, str(exc))
    try:
        record = last_run(profile.name)
    except Exception:  # a damaged run state must not stop the wizard from opening
        record = None
    return SavedProfile(path, origin, profile, last_run=record)


def list_profiles(last_run: LastRun | None = None) -> list[SavedProfile]:
    """The operator's profiles first (newest name order), then the examples."""
    last_run = last_run or default_last_run()
    found: list[SavedProfile] = []
    for folder, origin in ((user_profiles_dir(), "yours"), (EXAMPLE_PROFILES_DIR, "example")):
        if folder.is_dir():
            found.extend(_read(p, origin, last_run) for p in sorted(folder.glob("*.toml")))
    return found
