"""The example profiles every strategy ships (profiles/<strategy>.toml), loaded as tests use them,
and the helpers tests read and change a profile's tables with."""

from __future__ import annotations

import dataclasses
from typing import Any

from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Profile
from wizard.profile_io import load_profile
from wizard.strategies import registry

EXAMPLES = registry.names()  # every strategy ships an example profile: profiles/<strategy>.toml


def example_profile(strategy: str) -> Profile:
    return load_profile(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")


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
