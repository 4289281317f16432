"""Reading the profile a command names, with kubeha's exit codes (:mod:`wizard.errors`).

A file that cannot be read, or is not TOML at all, is an input error (exit 2); a TOML file that
is not a valid profile (an unknown key, a wrong type, a bad address) is a failed check (exit 1).
Every command reads its profile through here, so one invalid profile exits alike from all.
"""

from __future__ import annotations

from pathlib import Path

from wizard.errors import CheckFailed, UsageError
from wizard.problems import errors_in
from wizard.profile import Profile
from wizard.profile_io import ProfileError, load_profile
from wizard.validation import validate


def unreadable(exc: ProfileError) -> bool:
    """True when the file could not be parsed at all: every problem is about the whole file
    (not TOML, nested too deeply), none about a field of the profile."""
    return bool(exc.problems) and all(p.field == exc.source for p in exc.problems)


def read_profile(path: str | Path) -> Profile:
    """The profile ``path`` names, as written (not yet validated). Raises UsageError (2) when it
    cannot be read or parsed, CheckFailed (1) when its TOML does not make a profile."""
    try:
        return load_profile(path)
    except ProfileError as exc:
        if unreadable(exc):
            raise UsageError(str(exc)) from None
        raise CheckFailed(str(exc)) from None


def read_valid_profile(path: str | Path) -> Profile:
    """:func:`read_profile`, then every validation error at once as CheckFailed (1)."""
    profile = read_profile(path)
    errors = errors_in(validate(profile))
    if errors:
        lines = "\n".join(f"  {p}" for p in errors)
        raise CheckFailed(f"{path}: the profile is not valid:\n{lines}")
    return profile
