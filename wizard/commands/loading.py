"""Reading the profile a command names, with kubeha's exit codes (:mod:`wizard.errors`).

A file that cannot be read, or is not TOML at all, is an input error (exit 2); a TOML file that
is not a valid profile (an unknown key, a wrong type, a bad address) is a failed check (exit 1).
Every command reads its profile through here, so one invalid profile exits alike from all; a
run validates and renders it once (:func:`load_plan`) and applies that plan.
"""

from __future__ import annotations

from pathlib import Path

from wizard.errors import CheckFailed, UsageError
from wizard.problems import Problem, errors_in, problem_lines
from wizard.profile import Profile
from wizard.profile_io import ProfileError, load_profile
from wizard.render import InvalidProfile, RenderPlan, build_plan
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


def _not_valid(path: str | Path, errors: list[Problem]) -> CheckFailed:
    lines = "\n".join(problem_lines(errors))
    return CheckFailed(f"{path}: the profile is not valid:\n{lines}")


def load_valid_profile(path: str | Path) -> Profile:
    """:func:`read_profile`, then every validation error at once as CheckFailed (1)."""
    profile = read_profile(path)
    errors = errors_in(validate(profile))
    if errors:
        raise _not_valid(path, errors)
    return profile


def load_plan(path: str | Path) -> RenderPlan:
    """:func:`read_profile`, validated and rendered once: the plan a run applies (its profile
    is ``plan.profile``). Errors as :func:`load_valid_profile`'s."""
    profile = read_profile(path)
    try:
        return build_plan(profile)
    except InvalidProfile as exc:
        raise _not_valid(path, exc.problems) from None
