"""The operator's own settings for kubeha's front ends, such as the wizard's theme.

Kept as TOML in ``config_dir()/settings.toml``, readable by the operator only (0600, written
atomically). A missing, unreadable or damaged file reads as no settings: a setting is a
convenience and never stops kubeha from starting.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from wizard.paths import config_dir, make_private_dirs

SETTINGS_FILE = "settings.toml"


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings() -> dict[str, Any]:
    """Every stored setting; empty when there is no readable settings file."""
    try:
        with settings_path().open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def get_setting(key: str) -> Any:
    return load_settings().get(key)


def save_setting(key: str, value: str | int | float | bool) -> Path:
    """Store one setting beside the others; the file is 0600 and replaced atomically."""
    path = settings_path()
    make_private_dirs(path.parent)  # 0700, parents too, whatever the umask
    settings = load_settings()
    settings[key] = value
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(settings, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
