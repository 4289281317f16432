"""An in-memory node for fast unit tests of the engine's logic (the lab tests run the real
thing). It implements the RemoteNode operations the phases use: files with the same backup
rules, systemd units, the node's own config check, the load-balancer probe, and the node's
lock (the same take/replace/release rules as :meth:`RemoteNode.try_lock`)."""

from __future__ import annotations

import re
import shlex
import threading
import time
from dataclasses import dataclass, field

from wizard.backups import beside
from wizard.engine.remote import (
    ABSENT,
    NEW,
    NODE_LOCK,
    ORIG,
    PREV,
    REGULAR,
    ProbeResult,
    RemoteNode,
    content_sha256,
)
from wizard.engine.transport import CommandResult, TransportError


@dataclass
class FakeNode:
    name: str
    files: dict[str, str] = field(default_factory=dict)
    units: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    reject_marker: str | None = None  # a check refuses files that contain it
    serving: bool = True  # does the probe through the load balancer answer 200?
    readyz_code: str = "200"  # each master's /readyz from this node (the auth preflight)
    listening: tuple[str, ...] = ()
    # ``ss -Htln`` lists ``listening`` this many more times, then nothing (kubelet stopping a
    # static pod a moment after its manifest left); None: always.
    listed_times: int | None = None
    fail_start: set[str] = field(default_factory=set)
    output: str = ""  # extra text every command prints (e.g. to test redaction)
    log: list[str] = field(default_factory=list)
    delay: float = 0.0
    closed: bool = False
    locks: dict[str, str] = field(default_factory=dict)  # lock path -> holder record
    serving_pem: str = ""  # the chain its apiserver presents (the certificate preflight)
    clients_ok: bool = True  # do kubectl and the units' healthz answer (the clients phase)?
    # Keep .kubeha-orig / .kubeha-absent on commit and give them back on uninstall, as the real
    # node does (off: commit keeps only this run's backup and uninstall restores nothing).
    originals: bool = False
    # What is at a path that is not a regular file (RemoteNode.file_kind): "a folder", ...
    kinds: dict[str, str] = field(default_factory=dict)

    # The Transport side
    label: str = ""

    def close(self) -> None:
        self.closed = True

    @property
    def transport(self):
        return self

    def run(self, argv, timeout=120, stdin=None) -> CommandResult:
        argv = list(argv)
        self.log.append(" ".join(argv))
        if self.delay:
            time.sleep(self.delay)
        if any(NEW in a for a in argv):  # the node's own check of a staged file
            path = next(a for a in argv if NEW in a).split("=", 1)[-1]
            bad = self.reject_marker is not None and self.reject_marker in self.files.get(path, "")
            return CommandResult(
                tuple(argv), 1 if bad else 0, self.output, "config rejected" if bad else ""
            )
        if argv[:2] == ["rm", "-f"]:
            for path in argv[2:]:
                self.files.pop(path, None)
            return CommandResult(tuple(argv), 0, "", "")
        if argv[:2] == ["ss", "-Htln"]:
            out = "".join(f"LISTEN 0 511 {x} 0.0.0.0:*\n" for x in self.listening)
            if self.listed_times is not None:
                self.listed_times -= 1
                if self.listed_times < 0:
                    out = ""
            return CommandResult(tuple(argv), 0, out, "")
        if argv[0] == "journalctl":
            return CommandResult(tuple(argv), 0, f"journal of {argv[2]} {self.output}", "")
        return CommandResult(tuple(argv), 0, self.output, "")

    def sh(self, script, timeout=120) -> CommandResult:
        self.log.append(f"sh {script[:60]}")
        if "%{certs}" in script:
            return CommandResult(("sh",), 0, self.serving_pem, "")
        if "KUBEHA-AUTH" in script:  # the auth preflight: every master answers /readyz
            names = re.findall(r'echo "KUBEHA-AUTH (\S+) ', script)
            code = self.readyz_code
            out = "".join(f"KUBEHA-AUTH {n} {code} {code}\n" for n in names)
            return CommandResult(("sh",), 0, out, "")
        if "CA-REFUSED" in script:  # the verify probe (wizard.engine.probe): as probe() says
            result = self.probe(shlex.split(script)[-1])
            code = "200" if result.ok else "000"
            out = f"CA -\nRESULT {code} {result.seconds}\n"
            return CommandResult(("sh",), 0 if result.ok else 7, out, result.detail)
        if "/readyz" in script or "/healthz" in script or "is-active" in script:
            code = 0 if self.clients_ok else 1
            return CommandResult(("sh",), code, "", "" if self.clients_ok else "connection refused")
        if "os-release" in script:
            listen = "".join(f"listen={x}\n" for x in self.listening)
            bins = "".join(
                f"bin={b}\n"
                for b in ("nginx", "haproxy", "keepalived", "curl", "systemctl", "apt-get")
            )
            return CommandResult(
                ("sh",), 0, f"os=debian\nos_like=\ninit=systemd\n{bins}{listen}", ""
            )
        return CommandResult(("sh",), 0, "", "")

    # The RemoteNode side
    def read_text(self, path):
        return self.files.get(path)

    def file_kind(self, path):
        if path in self.kinds:
            return self.kinds[path]
        return REGULAR if path in self.files else None

    def sha256(self, path):  # a binary file (the agent's pyz) is compared by its hash
        text = self.files.get(path)
        return None if text is None else content_sha256(text.encode("utf-8", "surrogateescape"))

    def stage(self, path, content, mode, owner="root", group="root"):
        self.files[beside(path, NEW)] = content.decode("utf-8", "surrogateescape")
        return beside(path, NEW)

    def discard(self, temp):
        self.files.pop(temp, None)

    def commit(self, path, temp):
        """As :meth:`RemoteNode.commit`: this run's backup and, with ``originals``, the
        original (or a note that there was none) the first time kubeha replaces the file."""
        if path in self.files:
            self.files[beside(path, PREV)] = self.files[path]
        else:
            self.files.pop(beside(path, PREV), None)
        first = beside(path, ORIG) not in self.files and beside(path, ABSENT) not in self.files
        if self.originals and first:
            if path in self.files:
                self.files[beside(path, ORIG)] = self.files[path]
            else:
                self.files[beside(path, ABSENT)] = ""
        self.files[path] = self.files.pop(temp)
        self.log.append(f"commit {path}")

    def restore_previous(self, path):
        if beside(path, PREV) in self.files:
            self.files[path] = self.files.pop(beside(path, PREV))
        else:
            self.files.pop(path, None)
        self.log.append(f"restore {path}")

    def write_small_file(self, path, text):
        self.files[path] = text

    def write_private_file(self, path, text):
        self.files[path] = text

    managed_hosts_file = RemoteNode.managed_hosts_file

    _guard = threading.Lock()  # the guard file's flock

    def try_lock(self, record, stale="", path=NODE_LOCK):
        with self._guard:
            current = self.locks.get(path)
            if current is not None and current != record and (not stale or current != stale):
                return current
            self.locks[path] = record
            self.log.append(f"lock {path}")
            return None

    def unlock(self, record, path=NODE_LOCK):
        with self._guard:
            if self.locks.get(path) == record:
                del self.locks[path]
                self.log.append(f"unlock {path}")

    def unit_state(self, unit):
        return self.units.get(unit, (False, False))

    def remember_unit_state(self, unit, enabled, active):
        pass

    def recall_unit_state(self, unit):
        return None

    def forget_unit_state(self, unit):
        pass

    def made_folders(self):  # folders are not modelled: the real ones in test_made_folders.py
        return []

    def remove_made_folders(self):
        return []

    def restore_original(self, path):
        """As :meth:`RemoteNode.restore_original` with ``originals``: the file as it was
        before kubeha; without, nothing is kept to give back."""
        if not self.originals:
            return "kept"
        if beside(path, ORIG) in self.files:
            self.files[path] = self.files.pop(beside(path, ORIG))
            outcome = "restored"
        elif beside(path, ABSENT) in self.files:
            self.files.pop(path, None)
            self.files.pop(beside(path, ABSENT))
            outcome = "removed"
        else:
            outcome = "kept"
        self.files.pop(beside(path, PREV), None)
        self.files.pop(beside(path, NEW), None)
        self.log.append(f"restore original {path}: {outcome}")
        return outcome

    def systemctl(self, *args, timeout=90) -> CommandResult:
        self.log.append("systemctl " + " ".join(args))
        verb, unit = args[0], args[-1]
        enabled, active = self.units.get(unit, (False, False))
        ok = True
        if verb == "enable":
            enabled = True
        elif verb == "disable":
            enabled = False
            if "--now" in args:
                active = False
        elif verb in ("start", "restart", "reload"):
            ok = unit not in self.fail_start
            active = ok
        elif verb == "stop":
            active = False
        elif verb == "is-active":
            return CommandResult(args, 0 if active else 3, "", "")
        if verb != "daemon-reload":
            self.units[unit] = (enabled, active)
        return CommandResult(args, 0 if ok else 1, "", "" if ok else "job failed")

    def probe(self, url, timeout=3.0) -> ProbeResult:
        return ProbeResult(self.serving, "200" if self.serving else "curl exit 7", 0.01)


class FakeCluster:
    """Nodes by name, a connector for run_apply, and a record of how many connected at once."""

    def __init__(self, names, unreachable=()) -> None:
        self.nodes = {n: FakeNode(n, label=n) for n in names}
        self.unreachable = set(unreachable)
        self._lock = threading.Lock()
        self.open_now = 0
        self.most_open = 0

    def __call__(self, name):
        def open_node():
            if name in self.unreachable:
                raise TransportError(f"root@{name}: cannot connect: Connection refused")
            with self._lock:
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
            node = self.nodes[name]
            original_close = node.close

            def close():
                with self._lock:
                    self.open_now -= 1
                original_close()

            node.close = close
            return node

        return open_node
