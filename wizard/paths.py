"""Where kubeha keeps things on the operator's machine: profiles, run state, logs, caches.

Follows the XDG base directories; every path can be moved with an environment variable so that
tests never touch the real home folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
EXAMPLE_PROFILES_DIR = REPO_ROOT / "profiles"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def config_dir() -> Path:
    """kubeha's configuration folder (``$KUBEHA_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/kubeha``)."""
    override = os.environ.get("KUBEHA_CONFIG_DIR")
    return Path(override) if override else _xdg("XDG_CONFIG_HOME", ".config") / "kubeha"


def user_profiles_dir() -> Path:
    """The operator's own profiles, beside the examples shipped in ``profiles/``."""
    return config_dir() / "profiles"


def state_dir() -> Path:
    """Run state and logs (``$KUBEHA_STATE_DIR`` or ``$XDG_STATE_HOME/kubeha``)."""
    override = os.environ.get("KUBEHA_STATE_DIR")
    return Path(override) if override else _xdg("XDG_STATE_HOME", ".local/state") / "kubeha"


def known_hosts_file() -> Path:
    """kubeha's own known_hosts, checked beside the user's ``~/.ssh/known_hosts``."""
    return state_dir() / "known_hosts"
