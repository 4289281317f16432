"""File and service operations on one node, built on a Transport.

Files are replaced the safe way: the new content goes to ``PATH.kubeha-new`` in the same folder,
is checked there by the node's own program, and is renamed into place (atomic on one file
system). The version it replaces is kept as ``PATH.kubeha-prev`` for this run's rollback, and the
first version kubeha ever replaced as ``PATH.kubeha-orig`` (or a ``PATH.kubeha-absent`` marker) for
uninstall.

Every folder kubeha makes on a node is recorded first, in ``MADE_FOLDERS``, when it was not
there (:func:`mkdirs`): the uninstall removes those again once they are empty
(:meth:`RemoteNode.remove_made_folders`), and never a folder that was there before kubeha or that
holds anything.

A run holds the node's lock (``NODE_LOCK``: a file naming the holding run) from connect to
disconnect. Taking, replacing and releasing it happen under ``flock`` on a guard file beside it,
so two runs never both see the lock free; it lives in /run, so a reboot frees it.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from wizard.backups import ABSENT, NEW, ORIG, PREV, beside
from wizard.engine.transport import CommandResult, Transport

HOSTS_MARKER = "# managed by kubeha"
UNIT_STATE_DIR = "/var/lib/kubeha/units"
VERIFIED_URL_FILE = "/var/lib/kubeha/verified-url"
NODE_LOCK = "/run/kubeha/apply.lock"
REGULAR = "a regular file"  # RemoteNode.file_kind of a regular file
STATE_DIR = "/var/lib/kubeha"  # kubeha's own records on a node
MADE_FOLDERS = f"{STATE_DIR}/made-folders"  # one folder a line: the ones kubeha created
GUARD_WAIT_S = 20  # seconds to wait for another run's take or release of the lock (a moment)

# $1: the path of the lock, $2: our holder's record, $3: a stale record we may replace ("": none).
# Exit 0: taken; 3: held (the holder's record on stdout); anything else: could not tell.
_TAKE_LOCK = f"""
lock=$1; umask 077
command -v flock >/dev/null 2>&1 || {{ echo "no flock on the node (util-linux)" >&2; exit 6; }}
mkdir -p "${{lock%/*}}" || exit 5
exec 9>"$lock.guard" || exit 5
flock -w {GUARD_WAIT_S} 9 || {{ echo "$lock.guard stayed locked" >&2; exit 4; }}
if [ -e "$lock" ]; then
  current=$(cat "$lock") || exit 5
  if [ "$current" != "$2" ] && {{ [ -z "$3" ] || [ "$current" != "$3" ]; }}; then
    printf '%s' "$current"; exit 3
  fi
fi
printf '%s' "$2" > "$lock.new" && mv -f "$lock.new" "$lock"
"""

# $1: the path of the lock, $2: our holder's record. Removes the lock only if it is ours.
_RELEASE_LOCK = f"""
lock=$1
[ -e "$lock" ] || exit 0
exec 9>"$lock.guard" || exit 5
flock -w {GUARD_WAIT_S} 9 || {{ echo "$lock.guard stayed locked" >&2; exit 4; }}
if [ "$(cat "$lock")" = "$2" ]; then rm -f "$lock"; fi
"""


def q(value: str) -> str:
    return shlex.quote(value)


# $@: folders to make. Each missing one, and each missing folder above it, is added to the record
# (its own folder first) before ``mkdir -p`` makes it; a path that is a link (even a dangling
# one) or already a folder is never recorded.
_MKDIRS = f"""new=""
for f in "$@" {STATE_DIR}; do
  p=$f
  while [ -n "$p" ] && [ ! -d "$p" ] && [ ! -L "$p" ]; do new="$new$p
"; p=${{p%/*}}; done
done
if [ -n "$new" ]; then
  mkdir -p {STATE_DIR} && (umask 077 && printf '%s' "$new" >> {MADE_FOLDERS}) || exit 1
fi
mkdir -p -- "$@"
"""

# $@: the made folders, deepest first, the record's own folder last. Each is removed by rmdir
# (only ever an empty folder, never through a link); the ones still there are recorded again
# (the record's folder is then kept for the record).
_RMDIRS = f"""rm -f {MADE_FOLDERS}
left=""
for f in "$@"; do
  if [ "$f" = {STATE_DIR} ] && [ -n "$left" ]; then left="$left$f
"
  elif [ -d "$f" ] && [ ! -L "$f" ] && rmdir -- "$f" 2>/dev/null; then echo "$f"
  elif [ -d "$f" ]; then left="$left$f
"; fi
done
if [ -n "$left" ] && [ -d {STATE_DIR} ]; then
  (umask 077 && printf '%s' "$left" >> {MADE_FOLDERS}) || exit 1
fi
exit 0
"""


def mkdirs(*folders: str) -> str:
    """Shell text (a subshell, to chain with ``&&``) that makes ``folders`` as ``mkdir -p``
    does, recording in ``MADE_FOLDERS`` first the ones that were not there."""
    return f"(set -- {' '.join(q(f) for f in folders)}; {_MKDIRS})"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: str  # HTTP status code, or curl's error
    seconds: float
    detail: str = ""


class RemoteNode:
    """Operations on one node. Every value is quoted; nothing is built from unquoted text."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def run(
        self, argv: Sequence[str], timeout: float = 120, stdin: str | None = None
    ) -> CommandResult:
        return self.transport.run(argv, timeout=timeout, stdin=stdin)

    def sh(self, script: str, timeout: float = 120) -> CommandResult:
        return self.run(["sh", "-c", script], timeout=timeout)

    # --- files -------------------------------------------------------------------------------

    def read_text(self, path: str) -> str | None:
        result = self.sh(f"if [ -f {q(path)} ]; then cat {q(path)}; else exit 3; fi")
        if result.returncode == 3:
            return None
        if not result.ok:
            raise RuntimeError(f"cannot read {path}: {result.stderr.strip()}")
        return result.stdout

    def file_kind(self, path: str) -> str | None:
        """None when nothing is at ``path``; ``REGULAR`` for a regular file (or a link to one);
        else what is there: "a folder", "a symbolic link to nothing", "a fifo", ..."""
        p = q(path)
        result = self.sh(
            f"if [ -f {p} ]; then echo regular; elif [ -d {p} ]; then echo folder; "
            f"elif [ -L {p} ] && [ ! -e {p} ]; then echo dangling; "
            f"elif [ -e {p} ]; then stat -L -c %F -- {p}; else echo absent; fi"
        )
        if not result.ok:
            raise RuntimeError(f"cannot look at {path}: {result.stderr.strip()}")
        word = result.stdout.strip()
        named = {"regular": REGULAR, "folder": "a folder", "dangling": "a symbolic link to nothing"}
        if word == "absent":
            return None
        return named.get(word) or f"a {word or 'file of unknown type'}, not a regular file"

    def sha256(self, path: str) -> str | None:
        result = self.sh(f"if [ -f {q(path)} ]; then sha256sum {q(path)}; else echo absent; fi")
        word = result.stdout.split()[0] if result.stdout.split() else ""
        return None if word == "absent" or not result.ok else word

    def stage(
        self, path: str, content: bytes, mode: int, owner: str = "root", group: str = "root"
    ) -> str:
        folder = path.rsplit("/", 1)[0] or "/"
        mkdir = self.sh(mkdirs(folder))
        if not mkdir.ok:
            raise RuntimeError(f"cannot create {folder}: {mkdir.stderr.strip()}")
        temp = beside(path, NEW)
        self.transport.put(content, temp, mode)
        chown = self.run(["chown", f"{owner}:{group}", temp])
        if not chown.ok:
            raise RuntimeError(f"cannot chown {temp}: {chown.stderr.strip()}")
        return temp

    def write_small_file(self, path: str, text: str) -> None:
        """kubeha's own bookkeeping (not a config file): written in place, no backups."""
        folder = path.rsplit("/", 1)[0]
        self.sh(f"{mkdirs(folder)} && printf %s {q(text)} > {q(path)}")

    def write_private_file(self, path: str, text: str) -> None:
        """kubeha's own record on the node (journal, manifest): root-only, replaced atomically
        (a temp file renamed over it), so a run that dies mid-write leaves the old one whole."""
        temp = path + ".new"
        folder = path.rsplit("/", 1)[0]
        result = self.sh(
            f"umask 077 && {mkdirs(folder)} && printf %s {q(text)} > {q(temp)} "
            f"&& mv -f {q(temp)} {q(path)}"
        )
        if not result.ok:
            raise RuntimeError(f"cannot write {path}: {result.stderr.strip()}")

    def discard(self, temp: str) -> None:
        self.run(["rm", "-f", temp])

    def commit(self, path: str, temp: str) -> None:
        """Keep backups, then rename the checked temp file into place."""
        p = q(path)
        script = (
            f"set -e; "
            f"if [ -e {p} ]; then cp -p {p} {q(beside(path, PREV))}; else rm -f {q(beside(path, PREV))}; fi; "
            f"if [ ! -e {q(beside(path, ORIG))} ] && [ ! -e {q(beside(path, ABSENT))} ]; then "
            f"  if [ -e {p} ]; then cp -p {p} {q(beside(path, ORIG))}; else : > {q(beside(path, ABSENT))}; fi; "
            f"fi; "
            f"mv -f {q(temp)} {p}"
        )
        result = self.sh(script)
        if not result.ok:
            raise RuntimeError(f"cannot put {path} in place: {result.stderr.strip()}")

    def restore_previous(self, path: str) -> None:
        """Undo this run's commit of ``path``: the previous version back, or no file at all."""
        p, prev = q(path), q(beside(path, PREV))
        result = self.sh(f"if [ -e {prev} ]; then mv -f {prev} {p}; else rm -f {p}; fi")
        if not result.ok:
            raise RuntimeError(f"cannot restore {path}: {result.stderr.strip()}")

    def restore_original(self, path: str) -> str:
        """Uninstall: the file as it was before kubeha first replaced it."""
        p, orig, absent = q(path), q(beside(path, ORIG)), q(beside(path, ABSENT))
        result = self.sh(
            f"if [ -e {orig} ]; then mv -f {orig} {p}; echo restored; "
            f"elif [ -e {absent} ]; then rm -f {p} {absent}; echo removed; "
            f"else echo kept; fi; rm -f {q(beside(path, PREV))} {q(beside(path, NEW))}"
        )
        if not result.ok:
            raise RuntimeError(f"cannot restore {path}: {result.stderr.strip()}")
        return result.stdout.strip() or "kept"

    def managed_hosts_file(self, line: str, current: str | None) -> str:
        """/etc/hosts with kubeha's one line replaced (or added), everything else untouched."""
        kept = [
            existing
            for existing in (current or "").splitlines()
            if not existing.rstrip().endswith(HOSTS_MARKER)
        ]
        return "\n".join([*kept, f"{line.strip()}  {HOSTS_MARKER}"]) + "\n"

    def made_folders(self) -> list[str]:
        """The folders kubeha made on this node (``MADE_FOLDERS``), deepest first."""
        text = self.read_text(MADE_FOLDERS) or ""
        found = {line for line in text.splitlines() if line.startswith("/")}
        return sorted(found, key=lambda f: (f == STATE_DIR, -f.count("/"), f))

    def remove_made_folders(self) -> list[str]:
        """Uninstall: the folders kubeha made removed where empty, deepest first; returns the
        removed ones. One that holds anything stays, and stays recorded."""
        made = self.made_folders()
        if not made:
            return []
        result = self.run(["sh", "-c", _RMDIRS, "kubeha-rmdirs", *made])
        if not result.ok:
            raise RuntimeError(f"cannot remove the folders kubeha made: {result.stderr.strip()}")
        return result.stdout.splitlines()

    # --- the node's lock ----------------------------------------------------------------------

    def try_lock(self, record: str, stale: str = "", path: str = NODE_LOCK) -> str | None:
        """Take the node's lock for the run whose holder record is ``record``: None when taken
        (or already ours), else the record of the run that holds it. ``stale``: a holder's
        record to replace, only if the lock still holds exactly that."""
        result = self.run(["sh", "-c", _TAKE_LOCK, "kubeha-lock", path, record, stale], timeout=60)
        if result.returncode == 3:
            return result.stdout
        if not result.ok:
            detail = result.stderr.strip() or f"exit {result.returncode}"
            raise RuntimeError(f"cannot take the node's lock {path}: {detail}")
        return None

    def unlock(self, record: str, path: str = NODE_LOCK) -> None:
        """Release the node's lock if ``record`` (this run) holds it; another run's is kept."""
        result = self.run(["sh", "-c", _RELEASE_LOCK, "kubeha-unlock", path, record], timeout=60)
        if not result.ok:
            detail = result.stderr.strip() or f"exit {result.returncode}"
            raise RuntimeError(f"cannot release the node's lock {path}: {detail}")

    # --- services ----------------------------------------------------------------------------

    def systemctl(self, verb: str, *units: str, timeout: float = 90) -> CommandResult:
        """``systemctl VERB -- UNIT...``: ``--`` ends systemctl's options, so a unit's name is
        always a name, even one that starts with '-' (a profile's, or one a node's journal or
        manifest names). Only the exit status is read, so no ``--quiet`` is needed. Every
        unit name has its type after a '.': an argument without one is an option passed by
        mistake (``systemctl("is-active", "--quiet", unit)``), refused loudly."""
        odd = [u for u in units if "." not in u]
        if odd:
            raise RuntimeError(f"systemctl {verb}: {odd[0]!r} is not a unit name (no options here)")
        return self.run(["systemctl", verb, *(("--", *units) if units else ())], timeout=timeout)

    def unit_state(self, unit: str) -> tuple[bool, bool]:
        """(enabled, active)."""
        enabled = self.systemctl("is-enabled", unit).ok
        active = self.systemctl("is-active", unit).ok
        return enabled, active

    def remember_unit_state(self, unit: str, enabled: bool, active: bool) -> None:
        """Record, once, how a unit was before kubeha first changed it (for uninstall)."""
        path = q(f"{UNIT_STATE_DIR}/{unit}")
        flags = f"{int(enabled)} {int(active)}"
        self.sh(f"{mkdirs(UNIT_STATE_DIR)} && [ -e {path} ] || echo {q(flags)} > {path}")

    def recall_unit_state(self, unit: str) -> tuple[bool, bool] | None:
        text = self.read_text(f"{UNIT_STATE_DIR}/{unit}")
        if text is None or len(text.split()) != 2:
            return None
        enabled, active = text.split()
        return enabled == "1", active == "1"

    def forget_unit_state(self, unit: str) -> None:
        self.run(["rm", "-f", f"{UNIT_STATE_DIR}/{unit}"])

    # --- probes ------------------------------------------------------------------------------

    def probe(self, url: str, timeout: float = 3.0) -> ProbeResult:
        result = self.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--insecure",
                "--output",
                "/dev/null",
                "--max-time",
                f"{timeout:g}",
                "--write-out",
                "%{http_code} %{time_total}",
                url,
            ],
            timeout=timeout + 10,
        )
        parts = result.stdout.split()
        code = parts[0] if parts else "000"
        seconds = float(parts[1]) if len(parts) > 1 else 0.0
        ok = result.ok and code == "200"
        detail = result.stderr.strip() or ("" if ok else f"HTTP {code}")
        return ProbeResult(
            ok, code if code != "000" else f"curl exit {result.returncode}", seconds, detail
        )


def content_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
