"""Writing a render plan into the operator's ``--out`` folder without ever deleting what kubeha
did not write.

The folder is marked as kubeha's by a manifest, ``.kubeha-render.json``, listing every file the
render wrote (and kubeha's version). A render goes only into a new or empty folder, or into one
with such a manifest; there it replaces the files the manifest lists, removes the listed files
the new render no longer has, and leaves everything else alone. A symlinked folder (or a
symlink anywhere below it on the way to a file) is refused, never followed.

No other local user may be able to change the way to a file between the checks and the writes
(swap ``_cluster/`` for a symlink to a folder of their choosing, and have root write there). So
render writes only below folders that nobody else can change: every folder above ``--out`` (its
real path) belongs to root or to you and is not group- or world-writable unless it is sticky
(``/tmp``); ``--out`` itself and every folder inside it belong to you and are writable by you
alone; a symlink on the way belongs to root or to you. Anything else is refused, naming the
folder, before anything is written. Folders render makes are 0755 and files keep their modes
whatever the umask.

Every new file is written under a temporary name beside its target first; then each old file is
moved aside and the new one renamed in, and the manifest last. When anything fails half-way, the
old files are put back and the new ones removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wizard import __version__
from wizard.errors import UsageError
from wizard.render import RenderPlan
from wizard.textsafe import shown_path

MANIFEST = ".kubeha-render.json"
MANIFEST_FORMAT = "kubeha-render"
MANIFEST_MAX_BYTES = 4 * 1024 * 1024


class RenderOutError(UsageError):
    """The --out folder cannot be used: nothing in it was changed."""


@dataclass(frozen=True)
class OutFile:
    """One file of the render: its path relative to the folder, its bytes and its mode."""

    path: str
    data: bytes
    mode: int


def out_files(plan: RenderPlan) -> list[OutFile]:
    """``<node>/<absolute path>`` per file (``.kubeha-line`` for a managed line of a shared
    file such as /etc/hosts) and ``_cluster/<snippet>`` for the operator's snippets."""
    files = []
    for node_plan in plan.nodes:
        for rendered in node_plan.files:
            path = f"{node_plan.node}/{rendered.path.lstrip('/')}"
            if rendered.kind == "line":
                path += ".kubeha-line"
            data = rendered.data if rendered.data is not None else rendered.content.encode()
            files.append(OutFile(path, data, rendered.mode))
    for snippet in plan.snippets:
        files.append(OutFile(f"_cluster/{snippet.path}", snippet.content.encode(), 0o644))
    return files


def _safe_relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        bool(parts)
        and not PurePosixPath(path).is_absolute()
        and all(p not in ("", ".", "..") for p in parts)
        and "\0" not in path
        and path != MANIFEST
    )


def read_manifest(out: Path, label: str = "") -> list[str] | None:
    """The files a previous render listed in ``out``'s manifest; None when there is none."""
    label = label or shown_path(out)
    manifest = out / MANIFEST
    try:
        info = os.lstat(manifest)
    except FileNotFoundError:
        return None
    what = f"--out {label}: {MANIFEST}"
    if not stat.S_ISREG(info.st_mode) or info.st_size > MANIFEST_MAX_BYTES:
        raise RenderOutError(
            f"{what} is not a regular file of kubeha's render: remove it, or choose another folder"
        )
    try:
        fd = os.open(manifest, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            record = json.loads(handle.read(MANIFEST_MAX_BYTES + 1))
    except OSError as exc:
        raise RenderOutError(f"{what} cannot be read: {exc.strerror}") from None
    except (ValueError, RecursionError):
        record = None
    files = record.get("files") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or record.get("format") != MANIFEST_FORMAT
        or not isinstance(files, list)
        or not all(isinstance(f, str) and _safe_relative(f) for f in files)
    ):
        raise RenderOutError(
            f"{what} is not a kubeha render manifest (expected format {MANIFEST_FORMAT!r} and a "
            "list of relative file paths): remove it, or choose another folder"
        )
    return list(dict.fromkeys(files))


def check_out_folder(out: Path, label: str = "") -> list[str]:
    """The files of the previous render in ``out`` ([] for a new or empty folder); raises
    :class:`RenderOutError` for a folder render must not write into."""
    label = label or shown_path(out)
    if out.is_symlink():
        raise RenderOutError(
            f"--out {label}: is a symbolic link; render never writes through one: "
            "give the real folder, or a new one"
        )
    if not out.exists():
        return []
    if not out.is_dir():
        raise RenderOutError(f"--out {label}: exists and is not a folder: give a folder")
    previous = read_manifest(out, label)
    if previous is None:
        if any(out.iterdir()):
            raise RenderOutError(
                f"--out {label}: the folder is not empty and is not a previous kubeha render "
                f"(no {MANIFEST} in it); render writes only into a new or empty folder, or one it "
                "rendered before, and never deletes what it did not write: choose a new folder, "
                "e.g. --out ./kubeha-render"
            )
        return []
    return previous


def _owner_ok(uid: int, root_too: bool = True) -> bool:
    return uid == os.geteuid() or (root_too and uid == 0)


def _shared(info: os.stat_result) -> str:
    """Why other users can change this folder ('' when they cannot)."""
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022 and not mode & stat.S_ISVTX:
        who = "every user" if mode & 0o002 else "its group"
        return f"can be written by {who} (mode {mode:04o})"
    return ""


def _not_private(info: os.stat_result) -> str:
    """Why a folder of the render is not yours alone ('' when it is)."""
    if not _owner_ok(info.st_uid, root_too=False):
        return f"belongs to another user (uid {info.st_uid})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        return (
            f"can be written by {'every user' if mode & 0o002 else 'its group'} (mode {mode:04o})"
        )
    return ""


def _refuse_unsafe(where: Path, why: str, label: str) -> None:
    raise RenderOutError(
        f"--out {label}: {shown_path(where)} {why}: another user could swap what render writes there. "
        "render writes only below folders no one else can change (owned by you or root, not "
        "group- or world-writable unless sticky like /tmp): choose a folder of your own, e.g. "
        "--out ~/kubeha-render, or fix that folder's owner or mode"
    )


def check_safe_place(out: Path, label: str) -> None:
    """Refuse ``out`` (absolute) when another local user could change the way to it or in it:
    the folders above it (their real path, and every symlink on the typed one), and ``out``
    itself when it exists."""
    parent = out.parent
    for folder in (parent, *parent.parents):  # a symlink on the way is followed: whose is it?
        try:
            info = os.lstat(folder)
        except OSError:
            continue  # not there yet: it will be made, 0755
        if stat.S_ISLNK(info.st_mode) and not _owner_ok(info.st_uid):
            _refuse_unsafe(folder, f"is a symbolic link of another user (uid {info.st_uid})", label)
    real = Path(os.path.realpath(parent))
    for folder in (real, *real.parents):
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if not _owner_ok(info.st_uid):
            _refuse_unsafe(folder, f"belongs to another user (uid {info.st_uid})", label)
        why = _shared(info)
        if why:
            _refuse_unsafe(folder, why, label)
    try:
        info = os.lstat(out)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        why = _not_private(info)
        if why:
            _refuse_unsafe(out, why, label)


def make_folders(folder: Path, made: list[Path] | None = None) -> list[Path]:
    """``folder`` and its missing parents, each made 0755 (never wider, whatever the umask);
    returns the folders made, outermost first. Each is also appended to ``made`` as soon as it
    exists, so a failure or Ctrl-C between two of them still leaves every one to undo."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    done: list[Path] = [] if made is None else made
    start = len(done)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        done.append(path)
    return done[start:]


def _below_real_folders(out: Path, relative: str) -> bool:
    """True when every folder between ``out`` and the file is a real folder, no symlink."""
    current = out
    for part in PurePosixPath(relative).parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except OSError:
            return False
    return True


def _check_path(out: Path, relative: str, previous: set[str], label: str) -> None:
    """Every folder on the way to the file is a real folder (no symlink); the file itself is
    absent, or a regular file that the previous render wrote."""
    if not _safe_relative(relative):
        raise RenderOutError(f"render: {shown_path(relative)}: not a plain path below the folder")
    current = out
    parts = PurePosixPath(relative).parts
    for index, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        last = index == len(parts) - 1
        if last and stat.S_ISREG(info.st_mode) and relative in previous:
            return
        if not last and stat.S_ISDIR(info.st_mode):
            why = _not_private(info)
            if why:
                _refuse_unsafe(current, why, label)
            continue
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "in the way"
        raise RenderOutError(
            f"--out {label}: {shown_path(current.relative_to(out))} is {kind} and was not written "
            "by kubeha's last render there: move it away, or choose a new folder"
        )


def _check_folder(out: Path, name: str, label: str) -> None:
    """A node's folder is absent or a real folder (never a symlink kubeha would write through)."""
    try:
        info = os.lstat(out / name)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a folder"
        raise RenderOutError(
            f"--out {label}: {shown_path(name)} is {kind} and was not written by kubeha's last render "
            "there: move it away, or choose a new folder"
        )
    why = _not_private(info)
    if why:
        _refuse_unsafe(out / name, why, label)


def _aside(path: Path) -> Path:
    """A free name beside ``path`` for the old file while the new one goes in."""
    while True:
        candidate = path.with_name(f".{path.name}.kubeha-old-{secrets.token_hex(4)}")
        if not os.path.lexists(candidate):
            return candidate


class _Swap:
    """Stage, commit and (on failure) undo, one file at a time."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.made_dirs: list[Path] = []
        self.staged: list[tuple[Path, Path]] = []  # (temporary, target)
        self.moved_aside: list[tuple[Path, Path]] = []  # (target, old copy)
        self.put_in: list[Path] = []

    def folder(self, folder: Path) -> None:
        make_folders(folder, self.made_dirs)

    def stage(self, item: OutFile) -> None:
        target = self.out / item.path
        self.folder(target.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        while True:
            temporary = target.with_name(f".{target.name}.kubeha-new-{secrets.token_hex(4)}")
            try:
                fd = os.open(temporary, flags, 0o600)
                break
            except FileExistsError:
                continue
        self.staged.append((temporary, target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.data)
        os.chmod(temporary, item.mode)

    def set_aside(self, target: Path) -> None:
        if os.path.lexists(target):
            old = _aside(target)
            os.rename(target, old)
            self.moved_aside.append((target, old))

    def commit(self, temporary: Path, target: Path) -> None:
        self.set_aside(target)
        os.rename(temporary, target)
        self.put_in.append(target)

    def finish(self) -> None:
        """Success: drop the old copies and the folders the old files leave empty."""
        for _, old in self.moved_aside:
            with contextlib.suppress(OSError):
                os.unlink(old)
        for target, _ in self.moved_aside:
            _remove_empty_parents(target.parent, self.out)

    def undo(self) -> None:
        """Failure: new files out, old files back, folders made for this render removed."""
        for temporary, _ in self.staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        for target in reversed(self.put_in):
            with contextlib.suppress(OSError):
                os.unlink(target)
        for target, old in reversed(self.moved_aside):
            with contextlib.suppress(OSError):
                os.rename(old, target)
        for folder in reversed(self.made_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: never anything else's


def _remove_empty_parents(folder: Path, out: Path) -> None:
    while folder != out and out in folder.parents:
        try:
            folder.rmdir()  # fails, harmlessly, when anything else is still in it
        except OSError:
            return
        folder = folder.parent


def _manifest_bytes(paths: Iterable[str]) -> bytes:
    record = {"format": MANIFEST_FORMAT, "kubeha_version": __version__, "files": sorted(paths)}
    return (json.dumps(record, indent=2) + "\n").encode()


def write_plan(plan: RenderPlan, out: Path) -> list[Path]:
    """Write the plan under ``out`` (see the module's docstring) and return the files written."""
    typed = out
    out = Path(os.path.abspath(out))  # no resolve(): a symlinked --out is refused, not followed
    label = (
        shown_path(typed) if str(typed) == str(out) else f"{shown_path(typed)} ({shown_path(out)})"
    )
    check_safe_place(out, label)
    previous = check_out_folder(out, label)
    files = out_files(plan)
    listed = set(previous)
    for node_plan in plan.nodes:
        _check_folder(out, node_plan.node, label)
    for item in files:
        _check_path(out, item.path, listed, label)
    new_paths = {item.path for item in files}
    stale = [p for p in previous if p not in new_paths]
    made: list[Path] = []  # --out and its parents made here, kept as each is made
    swap = _Swap(out)
    try:
        make_folders(out, made)  # 0755 whatever the umask, parents included
        for node_plan in plan.nodes:  # one folder per node, empty for a verify-only node
            swap.folder(out / node_plan.node)
        for item in files:
            swap.stage(item)
        swap.stage(OutFile(MANIFEST, _manifest_bytes(new_paths), 0o644))
        *files_staged, manifest = swap.staged  # the manifest goes in last: the commit point
        for temporary, target in files_staged:
            swap.commit(temporary, target)
        for relative in stale:
            target = out / relative
            with contextlib.suppress(FileNotFoundError):
                # a listed regular file, reached through real folders only: kubeha's own
                if _below_real_folders(out, relative) and stat.S_ISREG(os.lstat(target).st_mode):
                    swap.set_aside(target)
        swap.commit(*manifest)
    except BaseException:
        swap.undo()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        raise
    swap.finish()
    return [out / item.path for item in files]
