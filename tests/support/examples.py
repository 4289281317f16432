"""The example profiles every strategy ships (profiles/<strategy>.toml), loaded as tests use them."""

from __future__ import annotations

from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Profile
from wizard.profile_io import load_profile
from wizard.strategies import registry

EXAMPLES = registry.names()  # every strategy ships an example profile: profiles/<strategy>.toml


def example_profile(strategy: str) -> Profile:
    return load_profile(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")
