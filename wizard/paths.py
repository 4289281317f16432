"""Where kubeha keeps things on the operator's machine: profiles, run state, logs, caches.

Follows the XDG base directories; every path can be moved with an environment variable so that
tests never touch the real home folder. A state folder that is (or lies under) a file is refused
with a clear error before anything tries to create it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wizard.errors import UsageError
from wizard.textsafe import printable

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


def _refuse_file_in_the_way(path: Path, what: str) -> None:
    """UsageError when ``path``, or the nearest of its parents that exists, is not a folder."""
    for candidate in (path, *path.parents):
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError):
            return  # unreadable: creating the folder will say why
        if not stat.S_ISDIR(mode):
            where = "is" if candidate == path else f"is under {printable(candidate)}, which is"
            raise UsageError(
                f"{what}{printable(path)}: {where} a file, not a folder: expected a folder "
                "(or a place to create one) for kubeha's run state and logs"
            )
        return


def state_dir() -> Path:
    """Run state and logs (``$KUBEHA_STATE_DIR`` or ``$XDG_STATE_HOME/kubeha``); a UsageError
    when a file stands where the folder should be."""
    override = os.environ.get("KUBEHA_STATE_DIR")
    path = Path(override) if override else _xdg("XDG_STATE_HOME", ".local/state") / "kubeha"
    _refuse_file_in_the_way(path, "KUBEHA_STATE_DIR=" if override else "the state folder ")
    return path


def known_hosts_file() -> Path:
    """kubeha's own known_hosts, checked beside the user's ``~/.ssh/known_hosts``."""
    return state_dir() / "known_hosts"
