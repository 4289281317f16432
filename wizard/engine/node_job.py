"""One node's way through the phases: connect, facts, install, upload, activate, verify — and
rollback when anything fails after the first file was put in place.

The job never leaves the node half-changed: either every file is new and the proxy verified, or
every file it replaced is back and the services re-activated on the previous config. From connect
to disconnect it holds the node's lock (:mod:`wizard.engine.node_lock`; not in a dry run).
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine import fault_hooks, node_journal, node_lock, node_manifest
from wizard.engine.events import PHASE_PROGRESS, Event, Status
from wizard.engine.facts import Facts, gather
from wizard.engine.loadnow import load_now
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions, FileDiff, NodeResult, NodeState
from wizard.engine.remote import VERIFIED_URL_FILE, RemoteNode, content_sha256
from wizard.errors import KubehaError
from wizard.render import NodePlan, RenderedFile


class StepFailed(Exception):
    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


class Cancelled(Exception):
    pass


@dataclass
class _Change:
    rendered: RenderedFile
    existed: bool


@dataclass
class NodeJob:
    plan: NodePlan
    connect: Callable[[], RemoteNode]
    emit: Callable[[Event], None]
    options: ApplyOptions
    cancel: threading.Event = field(default_factory=threading.Event)
    node: RemoteNode | None = None
    facts: Facts | None = None
    changes: list[_Change] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    diffs: list[FileDiff] = field(default_factory=list)
    served_before: bool | None = None
    previous_url: str | None = None  # the URL that verified this node's previous config
    units_before: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    lock: LockHolder | None = None  # the run that takes the node's lock (None: no lock)
    locked: bool = False
    journal: node_journal.Journal | None = None  # the files this run has put in place
    inherited: tuple[node_journal.JournalEntry, ...] = ()  # put in place by a run that died
    strategy: str = ""  # the profile's strategy: another one installed here is refused
    installed: node_manifest.Manifest | None = None  # what the node said kubeha installed

    @property
    def _profile_name(self) -> str:
        return self.lock.profile if self.lock is not None else ""

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.plan.node

    def _event(
        self, phase: str, status: Status, message: str = "", lines=(), duration=None
    ) -> None:
        progress = 1.0 if phase == "done" else PHASE_PROGRESS.get(phase)
        self.emit(Event(self.name, phase, status, message, tuple(lines), duration, progress))

    def _step(self, phase: str, func: Callable[[], tuple[Status, str, tuple[str, ...]]]) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        self._event(phase, Status.STARTED)
        began = time.monotonic()
        try:
            status, message, lines = func()
        except StepFailed as exc:
            self._event(phase, Status.FAILED, str(exc), exc.lines, time.monotonic() - began)
            raise
        except KubehaError as exc:
            self._event(phase, Status.FAILED, str(exc), (), time.monotonic() - began)
            raise StepFailed(str(exc)) from None
        except (RuntimeError, OSError) as exc:
            self._event(phase, Status.FAILED, str(exc), (), time.monotonic() - began)
            raise StepFailed(str(exc)) from None
        self._event(phase, status, message, lines, time.monotonic() - began)

    # --- the phases --------------------------------------------------------------------------

    def _connect(self):
        self.node = self.connect()
        if self.lock is None or self.options.dry_run:
            return Status.OK, "connected", ()
        message = node_lock.take(self.node, self.lock)
        self.locked = True
        return Status.OK, f"connected; {message}", ()

    def _facts(self):
        assert self.node is not None
        facts = gather(self.node)
        self.facts = facts
        if facts.init != "systemd":
            raise StepFailed(f"needs systemd as init, found {facts.init or 'unknown'}")
        if "curl" not in facts.binaries:
            raise StepFailed("needs curl on the node to verify the load balancer")
        if self.strategy:
            self.installed = node_manifest.read(self.node)
            conflict = node_manifest.strategy_conflict(
                self.node, self.installed, self.strategy, self._profile_name, self.plan.services
            )
            if conflict:
                raise StepFailed(conflict)
        for address, port in self.plan.ports:
            holder = facts.port_in_use(address, port)
            if holder and not any(self.node.unit_state(s)[1] for s in self.plan.services):
                raise StepFailed(
                    f"port {port} on {address} is already in use ({holder}) by something that is not kubeha's "
                    f"{', '.join(self.plan.services)}; free it or choose another port in the profile"
                )
        return Status.OK, f"{facts.os} ({facts.family}), init {facts.init}", ()

    def _missing_packages(self) -> list[str]:
        """The distro packages of every program the plan needs that the node lacks."""
        assert self.facts is not None
        family = self.facts.family
        return [
            name
            for package in self.plan.packages
            if package.binary not in self.facts.binaries
            for name in package.names(family)
        ]

    def _install(self):
        assert self.node is not None and self.facts is not None
        missing = self._missing_packages()
        if not missing:
            return Status.UNCHANGED, "packages present", ()
        if self.options.dry_run:
            self.actions.append(f"install packages: {' '.join(missing)}")
            return Status.INFO, f"would install {' '.join(missing)}", ()
        if self.facts.family == "debian" and "apt-get" in self.facts.binaries:
            argv = [
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                *missing,
            ]
            update = self.node.run(
                ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-q"], timeout=600
            )
            if not update.ok:
                raise StepFailed("apt-get update failed", update.output_lines())
        elif self.facts.family == "redhat" and "dnf" in self.facts.binaries:
            argv = ["dnf", "install", "-y", "-q", *missing]
        else:
            raise StepFailed(
                f"cannot install {' '.join(missing)}: no apt-get or dnf on {self.facts.os}"
            )
        result = self.node.run(argv, timeout=900)
        if not result.ok:
            raise StepFailed(f"installing {' '.join(missing)} failed", result.output_lines())
        self.actions.append(f"installed {' '.join(missing)}")
        return Status.CHANGED, f"installed {' '.join(missing)}", ()

    def _desired(self, rendered: RenderedFile) -> tuple[bytes, str | None]:
        """The bytes the file must hold, and its current text (None when absent)."""
        assert self.node is not None
        current = self.node.read_text(rendered.path)
        if rendered.kind == "line":
            return self.node.managed_hosts_file(rendered.content, current).encode(), current
        return rendered.content.encode(), current

    def _compare(self, rendered: RenderedFile) -> tuple[bytes, str | None, str | None]:
        """(the bytes to write, the current text or hash (None: absent), the diff or None when
        nothing changes). A binary file (``data``) is compared by its sha256 alone."""
        assert self.node is not None
        if rendered.data is not None:
            old, new = self.node.sha256(rendered.path), content_sha256(rendered.data)
            diff = (
                None
                if old == new
                else f"binary {rendered.path}: sha256 {old or 'absent'} -> {new}\n"
            )
            return rendered.data, old, diff
        desired, current = self._desired(rendered)
        if current is not None and content_sha256(current.encode()) == content_sha256(desired):
            return desired, current, None
        diff = "".join(
            difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                desired.decode().splitlines(keepends=True),
                fromfile=f"{self.name}:{rendered.path}" if current is not None else "/dev/null",
                tofile=f"{self.name}:{rendered.path} (kubeha)",
            )
        )
        return desired, current, diff

    def _read_journal(self) -> list[str]:
        """An earlier run's journal on the node: its files are finished (or rolled back) by
        this run. Lines that say so."""
        assert self.node is not None
        journal, problem = node_journal.read(self.node)
        if problem:
            return [problem]
        if journal is None or not journal.entries:
            return []
        self.inherited = journal.entries
        files = ", ".join(e.path for e in journal.entries)
        verb = "would finish" if self.options.dry_run else "finishing"
        return [f"run {journal.run_id} stopped during its change of {files}: {verb} it"]

    def _journal_add(self, rendered: RenderedFile) -> None:
        """Record ``rendered`` in the node's journal before it is renamed into place."""
        assert self.node is not None
        if self.journal is None:
            run_id = self.lock.run_id if self.lock is not None else "unknown"
            self.journal = node_journal.Journal(run_id, self.inherited)
        entry = node_journal.JournalEntry(rendered.path, rendered.service, rendered.restart)
        self.journal = self.journal.with_entry(entry)
        node_journal.write(self.node, self.journal)

    def _upload(self):
        assert self.node is not None
        lines: list[str] = self._read_journal()
        for rendered in self.plan.files:
            if self.cancel.is_set():
                raise Cancelled()
            desired, current, diff = self._compare(rendered)
            if diff is None:
                self.diffs.append(FileDiff(rendered.path, "unchanged"))
                continue
            action = "update" if current is not None else "create"
            self.diffs.append(FileDiff(rendered.path, action, diff))
            if self.options.dry_run:
                lines.append(f"would {action} {rendered.path}")
                continue
            temp = self.node.stage(
                rendered.path, desired, rendered.mode, rendered.owner, rendered.group
            )
            if rendered.check:
                argv = [arg.replace("{file}", temp) for arg in rendered.check]
                result = self.node.run(argv, timeout=60)
                if not result.ok:
                    self.node.discard(temp)
                    raise StepFailed(
                        f"{rendered.path}: the node's own check refused it ({' '.join(rendered.check[:2])})",
                        result.output_lines(),
                    )
            fault_hooks.kill_point("staged")
            self._journal_add(rendered)
            self.node.commit(rendered.path, temp)
            self.changes.append(_Change(rendered, current is not None))
            lines.append(f"{action}d {rendered.path}")
        if self.options.dry_run:
            changed = [d for d in self.diffs if d.action != "unchanged"]
            return (Status.INFO, f"{len(changed)} file(s) would change", tuple(lines))
        if self.changes:
            fault_hooks.kill_point("renamed")
        if not self.changes:
            return Status.UNCHANGED, "every file already up to date", tuple(lines)
        return Status.CHANGED, f"{len(self.changes)} file(s) written", tuple(lines)

    def _inherited_files(self) -> list[RenderedFile]:
        """The plan's files that a run that died put in place and this run did not write."""
        written = {c.rendered.path for c in self.changes}
        paths = {e.path for e in self.inherited} - written
        return [f for f in self.plan.files if f.path in paths]

    def _activate(self):
        assert self.node is not None
        fault_hooks.drop_ssh(self.node, "activate")
        inherited = self._inherited_files()
        touched = [c.rendered for c in self.changes] + inherited
        changed_units = {f.service for f in touched if f.service}
        restart_units = {f.service for f in touched if f.restart}
        lines: list[str] = []
        if self.options.dry_run:
            for unit in self.plan.services:
                enabled, active = self.node.unit_state(unit)
                if not enabled:
                    lines.append(f"would enable {unit}")
                if not active:
                    lines.append(f"would start {unit}")
            changed = [d for d in self.diffs if d.action != "unchanged"]
            if changed:
                lines.append(
                    f"would reload or restart {', '.join(self.plan.services) or 'nothing'}"
                )
            self.actions.extend(lines)
            return Status.INFO, "dry run", tuple(lines)
        for rendered in touched:  # files no service reads: sysctl.d, modules-load.d
            for argv in load_now(rendered):
                self._run_or_fail(argv, lines)
        if any(f.path.startswith("/etc/systemd/system/") for f in touched):
            self._systemctl(["daemon-reload"], lines)
        for unit in self.plan.services:
            enabled, active = self.node.unit_state(unit)
            self.units_before[unit] = (enabled, active)
            self.node.remember_unit_state(unit, enabled, active)
            if not enabled:
                self._systemctl(["enable", unit], lines)
            if not active:
                self._systemctl(["start", unit], lines, unit)
                self.restarted.append(unit)
            elif unit in restart_units:
                self._systemctl(["restart", unit], lines, unit)
                self.restarted.append(unit)
            elif unit in changed_units:
                self._systemctl(["reload", unit], lines, unit)
                self.reloaded.append(unit)
        for unit in self.plan.services:
            if not self.node.systemctl("is-active", "--quiet", unit).ok:
                raise StepFailed(f"{unit} is not active after activation", self._journal(unit))
        fault_hooks.kill_point("activated")
        if not lines:
            return Status.UNCHANGED, "nothing to restart", ()
        return Status.CHANGED, "; ".join(lines), ()

    def _run_or_fail(self, argv: list[str], lines: list[str]) -> None:
        assert self.node is not None
        result = self.node.run(argv, timeout=60)
        if not result.ok:
            raise StepFailed(f"{' '.join(argv)} failed", result.output_lines())
        lines.append(" ".join(argv))
        self.actions.append(" ".join(argv))

    def _systemctl(self, args: list[str], lines: list[str], unit: str | None = None) -> None:
        assert self.node is not None
        result = self.node.systemctl(*args)
        if not result.ok:
            raise StepFailed(
                f"systemctl {' '.join(args)} failed",
                result.output_lines() + (self._journal(unit) if unit else ()),
            )
        lines.append(f"{args[0]} {' '.join(args[1:])}".strip())
        self.actions.append(f"systemctl {' '.join(args)}")

    def _journal(self, unit: str) -> tuple[str, ...]:
        assert self.node is not None
        result = self.node.run(
            ["journalctl", "-u", unit, "-n", "12", "--no-pager", "-o", "cat"], timeout=20
        )
        return result.output_lines(12)

    def probe_until(self, deadline_s: float, url: str | None = None) -> tuple[bool, str]:
        assert self.node is not None
        url = url or self.plan.verify_url
        deadline = time.monotonic() + deadline_s
        last = ""
        while True:
            result = self.node.probe(url)
            if result.ok:
                return True, f"{url} answered 200 in {result.seconds * 1000:.0f} ms"
            last = f"{url}: {result.status} {result.detail}".strip()
            if time.monotonic() >= deadline or self.cancel.is_set():
                return False, last
            time.sleep(0.5)

    def _probe_previous(self) -> None:
        """Does the node's previous config serve? Probed at the URL that last verified it."""
        assert self.node is not None
        self.previous_url = self.node.read_text(VERIFIED_URL_FILE)
        if self.previous_url:
            self.previous_url = self.previous_url.strip()
            self.served_before = self.node.probe(self.previous_url, timeout=2).ok

    def _verify(self):
        assert self.node is not None
        began = time.monotonic()
        ok, message = self.probe_until(self.options.verify_timeout)
        if not ok:
            raise StepFailed(f"no ready apiserver through the load balancer: {message}")
        if self.plan.settle_check:
            left = max(self.options.verify_timeout - (time.monotonic() - began), 1.0)
            settled, detail = self._wait_settled(left)
            if not settled:
                raise StepFailed(
                    f"the load balancer did not settle within the verify time: {detail}"
                )
        if self.plan.files:
            self.node.write_small_file(VERIFIED_URL_FILE, self.plan.verify_url + "\n")
        if self.plan.files and self.strategy:
            manifest = node_manifest.Manifest(
                profile=self._profile_name,
                strategy=self.strategy,
                files=tuple(f.path for f in self.plan.files),
                services=self.plan.services,
                run_id=self.lock.run_id if self.lock is not None else "",
            )
            if not manifest.same_install(self.installed):  # a re-apply writes nothing
                node_manifest.write(self.node, manifest)
        if self.journal is not None or self.inherited:
            node_journal.clear(self.node)
        return Status.OK, message, ()

    def _wait_settled(self, seconds: float) -> tuple[bool, str]:
        """Runs the plan's settle check until it passes or ``seconds`` are up."""
        assert self.node is not None
        deadline = time.monotonic() + seconds
        while True:
            result = self.node.run(["sh", "-c", self.plan.settle_check], timeout=30)
            if result.ok:
                return True, ""
            lines = result.output_lines(1)
            if time.monotonic() >= deadline or self.cancel.is_set():
                return False, lines[-1] if lines else f"exit {result.returncode}"
            time.sleep(0.5)

    def _rollback(self) -> str:
        """Put every replaced file back, re-activate, and check whether the old state serves."""
        assert self.node is not None
        self._event("rollback", Status.STARTED)
        began = time.monotonic()
        problems: list[str] = []
        inherited = self._inherited_files()
        undone = [c.rendered for c in reversed(self.changes)] + inherited
        for rendered in undone:
            try:
                self.node.restore_previous(rendered.path)
            except RuntimeError as exc:
                problems.append(str(exc))
        if any(f.path.startswith("/etc/systemd/system/") for f in undone):
            self.node.systemctl("daemon-reload")
        for unit, (enabled, active) in self.units_before.items():
            # Back to how the unit was before this run: running on the restored config, or
            # stopped (and disabled) when it was not running before.
            if active:
                if not self.node.systemctl("restart", unit).ok:
                    problems.append(f"{unit} did not restart on the previous config")
            else:
                self.node.systemctl("stop", unit)
            if not enabled:
                self.node.systemctl("disable", unit)
        if not problems:
            try:
                node_journal.clear(self.node)
            except RuntimeError as exc:
                problems.append(str(exc))
        if problems:
            message = "rollback incomplete: " + "; ".join(problems)
            self._event("rollback", Status.FAILED, message, (), time.monotonic() - began)
            return message
        if self.served_before and self.previous_url:
            ok, detail = self.probe_until(10, self.previous_url)
            message = (
                f"previous config restored and serving again ({detail})"
                if ok
                else f"previous config restored but NOT serving: {detail}"
            )
            status = Status.OK if ok else Status.FAILED
        else:
            message = "previous state restored (it was not serving before this run either)"
            status = Status.OK
        self._event("rollback", status, message, (), time.monotonic() - began)
        return message

    # --- the job -----------------------------------------------------------------------------

    def run(self) -> NodeResult:
        phase_failed = ""
        try:
            self._step("connect", self._connect)
            self._step("facts", self._facts)
            self._step("install", self._install)
            if not self.options.dry_run and self.plan.files:
                self._probe_previous()
            self._step("upload", self._upload)
            if self.options.dry_run:
                self._step("activate", self._activate)
                return self._result(NodeState.PLANNED, "dry run: nothing changed")
            self._step("activate", self._activate)
            self._step("verify", self._verify)
        except Cancelled:
            if self.changes or self.inherited:
                rollback = self._rollback()
                return self._result(
                    NodeState.ROLLED_BACK, "cancelled before it was verified", rollback
                )
            self._event("done", Status.SKIPPED, "cancelled")
            return self._result(NodeState.CANCELLED, "cancelled before any change")
        except StepFailed as exc:
            phase_failed = str(exc)
            if self.changes or self.inherited:
                rollback = self._rollback()
                state = (
                    NodeState.ROLLED_BACK
                    if not rollback.startswith("rollback incomplete")
                    and "NOT serving" not in rollback
                    else NodeState.BROKEN
                )
                self._event("done", Status.FAILED, f"failed: {phase_failed}; {rollback}")
                return self._result(state, phase_failed, rollback)
            self._event("done", Status.FAILED, f"failed: {phase_failed}; nothing was changed")
            return self._result(NodeState.UNTOUCHED, phase_failed)
        if self.changes or self.restarted or self.reloaded:
            self._event("done", Status.OK, "verified")
            return self._result(NodeState.VERIFIED, "new config verified")
        if not self.plan.files:
            self._event("done", Status.OK, "verified (nothing to install on this node)")
            return self._result(
                NodeState.UNCHANGED,
                "reaches a ready apiserver through the load balancer; nothing to install here",
            )
        self._event("done", Status.OK, "unchanged and verified")
        return self._result(NodeState.UNCHANGED, "already up to date; nothing written or restarted")

    def _result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        return NodeResult(
            node=self.name,
            state=state,
            reason=reason,
            changed_files=tuple(c.rendered.path for c in self.changes),
            restarted=tuple(self.restarted),
            reloaded=tuple(self.reloaded),
            diffs=tuple(self.diffs),
            actions=tuple(self.actions),
            rollback=rollback,
        )

    def disconnect(self) -> None:
        """Release the node's lock (after any rollback: this is the job's last step), close."""
        node, self.node = self.node, None
        if node is not None:
            try:
                node_lock.release_for(self, node)
                node.transport.close()
            finally:
                self._event("disconnect", Status.OK, "closed")
