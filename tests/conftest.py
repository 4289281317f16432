"""Shared fixtures: isolated kubeha folders for every test, example profiles, and the lab."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

# The session-wide lab fixture is defined here and only here: a second definition in a deeper
# conftest would be a second session fixture, waiting forever on the first one's lock.
from tests.lab_fixture import lab  # noqa: F401
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Profile
from wizard.profile_io import load_profile
from wizard.strategies import registry

EXAMPLES = registry.names()  # every strategy ships an example profile: profiles/<strategy>.toml


@pytest.fixture(autouse=True)
def _isolated_kubeha_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real ~/.config/kubeha or ~/.local/state/kubeha."""
    base = tmp_path_factory.mktemp("kubeha-home")
    monkeypatch.setenv("KUBEHA_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(base / "state"))


def section(profile: Profile, name: str) -> Any:
    """The strategy table ``name`` of ``profile`` (its defaults when absent), typed by the
    registry."""
    return profile.table(name, registry.tables()[name])


def with_tables(profile: Profile, **tables: object) -> Profile:
    """``profile`` with these strategy tables (``ipvs=Ipvs(...)``) set."""
    return dataclasses.replace(profile, tables={**profile.tables, **tables})


def changed(profile: Profile, name: str, **changes: Any) -> Profile:
    """``profile`` with these fields of its table ``name`` (``health_check``, or a strategy's
    such as ``install``) changed."""
    if name in registry.tables():
        return with_tables(
            profile, **{name: dataclasses.replace(section(profile, name), **changes)}
        )
    return dataclasses.replace(
        profile, **{name: dataclasses.replace(getattr(profile, name), **changes)}
    )


def example_profile(strategy: str) -> Profile:
    return load_profile(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> Profile:
    return example_profile(request.param)


@pytest.fixture
def write_toml(tmp_path: Path):
    def write(text: str, name: str = "profile.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
