"""Where kubeha keeps things on the operator's machine: profiles, run state, logs, caches.

Follows the XDG base directories; every path can be moved with an environment variable so that
tests never touch the real home folder. A state folder that is (or lies under) a file is refused
with a clear error before anything tries to create it.

Every folder kubeha makes on this machine is made 0700 (:func:`make_private_dirs`), its missing
parents too (``~/.local``, ``~/.local/state``), whatever the umask. kubeha never changes the mode
of a folder it did not make: an existing ``$KUBEHA_STATE_DIR`` must already be yours and private
(``/tmp``, or any shared folder, is refused with what to do instead), and an unusable one
(``/proc/x``, a file) is refused by name, never a traceback.
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


def make_private_dirs(path: Path, what: str = "") -> Path:
    """``path`` and every missing folder above it, each made 0700 (mkdir's mode is only ever
    narrowed by the umask, so never wider). Existing folders are left exactly as they are.
    A folder that cannot be made is a UsageError naming it."""
    missing = []
    current = path
    for _ in range(256):  # a path has far fewer parts; bounded all the same
        if os.path.lexists(current) or current == current.parent:
            break
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # made meanwhile (another kubeha): judged by its user below
        except OSError as exc:
            raise UsageError(
                f"{what}{printable(path)}: cannot make the folder {printable(folder)} "
                f"({exc.strerror or type(exc).__name__}): expected a folder kubeha can create, "
                "or an existing folder of yours"
            ) from None
    try:
        if not stat.S_ISDIR(os.stat(path).st_mode):
            raise UsageError(f"{what}{printable(path)}: not a folder: expected a folder")
    except OSError as exc:
        raise UsageError(
            f"{what}{printable(path)}: cannot use it ({exc.strerror or type(exc).__name__}): "
            "expected a folder"
        ) from None
    return path


def ensure_state_dir() -> Path:
    """The state folder, ready for kubeha's private files: made 0700 when missing (parents
    too). An existing one must be yours; kubeha's default folder (named kubeha) is tightened
    to 0700 when looser, but a ``$KUBEHA_STATE_DIR`` kubeha did not make is never chmodded:
    one that others can enter is refused (point it at a new folder, or make it private)."""
    path = state_dir()
    override = os.environ.get("KUBEHA_STATE_DIR")
    what = "KUBEHA_STATE_DIR=" if override else "the state folder "
    existed = os.path.lexists(path)
    make_private_dirs(path, what)
    if not existed:
        return path
    info = os.stat(path)
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise UsageError(
            f"{what}{printable(path)}: belongs to another user (uid {info.st_uid}): expected a "
            "folder of yours for kubeha's private run state: point KUBEHA_STATE_DIR at a new "
            "folder (kubeha makes it 0700)"
        )
    if mode & 0o077:
        if override:
            raise UsageError(
                f"{what}{printable(path)}: an existing folder that others can enter (mode "
                f"{mode:04o}); kubeha keeps its run state private and never changes the mode of "
                "a folder it did not make: point KUBEHA_STATE_DIR at a new folder (kubeha makes "
                f"it 0700), or make this one private yourself (chmod 700 {printable(path)})"
            )
        os.chmod(path, 0o700)  # ~/.local/state/kubeha: kubeha's own folder, by its name
    return path


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
