"""The phases of a node's apply, in order (:data:`APPLY`), each with its dry run and undo:

connect (and lock) -> facts (systemd, curl, the strategy installed, free ports; with ``[clients]
repoint``, each listed kubeconfig present or not and its ``server:`` now) -> install (the
missing packages) -> upload (stage, check on the node, journal, rename into place; undo: every
replaced file back) -> activate (load, daemon-reload, enable, start, restart or reload) ->
verify (a ready apiserver through the load balancer; then the manifest, the journal cleared) ->
clients (only with ``[clients] repoint = true``: each kubeconfig repointed to the load balancer,
its unit restarted and checked; undo: the kubeconfigs back; :mod:`wizard.engine.clients`) ->
retire (only when this strategy takes over another's port in place: the old balancer stopped,
the new one verified alone, the old files removed; undo: the old one started again;
:mod:`wizard.engine.retire`).

After the undo the job re-activates and probes the previous config
(:meth:`~wizard.engine.node_job.NodeJob.after_undo`): the services must come back on the files
put back, so that step follows every file's undo.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wizard.engine import fault_hooks, node_journal, node_manifest
from wizard.engine.clients import (
    has_clients,
    kubeconfigs_now,
    not_regular,
    put_clients_back,
    repoint_clients,
    would_repoint,
)
from wizard.engine.events import Status
from wizard.engine.facts import gather
from wizard.engine.file_changes import Change, compare, read_journal, record_in_journal
from wizard.engine.job import connect
from wizard.engine.loadnow import load_now
from wizard.engine.model import FileAction, FileDiff
from wizard.engine.phase import Cancelled, Outcome, Phase, PhaseName, StepFailed
from wizard.engine.remote import VERIFIED_URL_FILE
from wizard.engine.retire import restart_old, retire, retiring, would_retire
from wizard.render import RenderedFile

if TYPE_CHECKING:
    from wizard.engine.node_job import NodeJob


# --- facts and install ---------------------------------------------------------------------


def facts(job: NodeJob) -> Outcome:
    assert job.node is not None
    found = gather(job.node)
    job.facts = found
    if found.init != "systemd":
        raise StepFailed(f"needs systemd as init, found {found.init or 'unknown'}")
    if "curl" not in found.binaries:
        raise StepFailed("needs curl on the node to verify the load balancer")
    ours = job.plan.services
    if job.strategy:
        job.installed = node_manifest.read(job.node)
        if node_manifest.takes_over(
            job.installed, job.strategy, job.plan.ports, job.plan.shares_port
        ):
            job.retiring = job.installed
            ours = (*ours, *job.installed.services)  # the port holder it takes over from
        else:
            conflict = node_manifest.strategy_conflict(
                job.node, job.installed, job.strategy, job.profile_name, job.plan.services
            )
            if conflict:
                raise StepFailed(conflict)
    for address, port in job.plan.ports:
        holder = found.port_in_use(address, port)
        if holder and not any(job.node.unit_state(s)[1] for s in ours):
            raise StepFailed(
                f"port {port} on {address} is already in use ({holder}) by something that is not kubeha's "
                f"{', '.join(job.plan.services)}; free it or choose another port in the profile"
            )
    message = f"{found.os} ({found.family}), init {found.init}"
    if job.clients is None:
        return Status.OK, message, ()
    odd = not_regular(job.node, job.clients)
    if odd:  # before any change on the node: nothing is installed, nothing repointed
        raise StepFailed(
            f"node {job.name}: {'; '.join(odd)}: expected a kubeconfig file, or nothing, at "
            "each path of [clients] kubeconfigs; nothing was changed on this node"
        )
    job.kubeconfigs = kubeconfigs_now(job.node, job.clients)
    present = sum(k.present for k in job.kubeconfigs)
    message += f"; {present} of {len(job.kubeconfigs)} listed kubeconfig(s) here"
    return Status.OK, message, tuple(k.line for k in job.kubeconfigs)


def _missing(job: NodeJob) -> list[str]:
    """The distro packages of every program the plan needs that the node lacks (their names on
    the node's family: ``wizard.strategies.packages``)."""
    assert job.facts is not None
    family, binaries = job.facts.family, job.facts.binaries
    return [
        name
        for package in job.plan.packages
        if package.binary not in binaries
        for name in package.names(family)
    ]


def install(job: NodeJob) -> Outcome:
    assert job.node is not None and job.facts is not None
    missing = _missing(job)
    if not missing:
        return Status.UNCHANGED, "packages present", ()
    family, binaries = job.facts.family, job.facts.binaries
    if family == "debian" and "apt-get" in binaries:
        apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
        argv = [*apt, "install", "-y", "-q", "--no-install-recommends", *missing]
        update = job.node.run([*apt, "update", "-q"], timeout=600)
        if not update.ok:
            raise StepFailed("apt-get update failed", update.output_lines())
    elif family == "redhat" and "dnf" in binaries:
        argv = ["dnf", "install", "-y", "-q", *missing]
    else:
        raise StepFailed(f"cannot install {' '.join(missing)}: no apt-get or dnf on {job.facts.os}")
    result = job.node.run(argv, timeout=900)
    if not result.ok:
        raise StepFailed(f"installing {' '.join(missing)} failed", result.output_lines())
    job.actions.append(f"installed {' '.join(missing)}")
    return Status.CHANGED, f"installed {' '.join(missing)}", ()


def would_install(job: NodeJob) -> Outcome:
    missing = _missing(job)
    if not missing:
        return Status.UNCHANGED, "packages present", ()
    job.actions.append(f"install packages: {' '.join(missing)}")
    return Status.INFO, f"would install {' '.join(missing)}", ()


# --- upload ---------------------------------------------------------------------------------


def _probe_previous(job: NodeJob) -> None:
    """Does the node's previous config serve? Probed at the URL that last verified it, so that
    a rollback can tell whether it serves again."""
    assert job.node is not None
    job.previous_url = job.node.read_text(VERIFIED_URL_FILE)
    if job.previous_url:
        job.previous_url = job.previous_url.strip()
        job.served_before = job.probe_once(job.previous_url, timeout=2)[0]


def _record_diff(job: NodeJob, rendered: RenderedFile) -> tuple[bytes, str | None, FileAction]:
    """Compare ``rendered`` with the node's file and record the diff on the job: (the bytes to
    write, the current text or hash, what the upload does to it)."""
    assert job.node is not None
    desired, current, diff = compare(job.node, job.name, rendered)
    if diff is None:
        job.diffs.append(FileDiff(rendered.path, FileAction.UNCHANGED))
        return desired, current, FileAction.UNCHANGED
    action = FileAction.UPDATE if current is not None else FileAction.CREATE
    job.diffs.append(FileDiff(rendered.path, action, diff))
    return desired, current, action


def upload(job: NodeJob) -> Outcome:
    """Each changed file: staged beside its place, checked by the node's own program, written
    to the node's journal, renamed into place."""
    assert job.node is not None
    if job.plan.files:
        _probe_previous(job)
    lines = read_journal(job)
    for rendered in job.plan.files:
        if job.cancel.is_set():
            raise Cancelled()
        desired, current, action = _record_diff(job, rendered)
        if action is FileAction.UNCHANGED:
            continue
        temp = job.node.stage(rendered.path, desired, rendered.mode, rendered.owner, rendered.group)
        if rendered.check:
            argv = [arg.replace("{file}", temp) for arg in rendered.check]
            result = job.node.run(argv, timeout=60)
            if not result.ok:
                job.node.discard(temp)
                raise StepFailed(
                    f"{rendered.path}: the node's own check refused it ({' '.join(rendered.check[:2])})",
                    result.output_lines(),
                )
        fault_hooks.kill_point("staged")
        record_in_journal(job, rendered)
        job.node.commit(rendered.path, temp)
        job.changes.append(Change(rendered, current is not None))
        lines.append(f"{action}d {rendered.path}")
    if not job.changes:
        return Status.UNCHANGED, "every file already up to date", tuple(lines)
    fault_hooks.kill_point("renamed")
    return Status.CHANGED, f"{len(job.changes)} file(s) written", tuple(lines)


def would_upload(job: NodeJob) -> Outcome:
    assert job.node is not None
    lines = read_journal(job)
    for rendered in job.plan.files:
        if job.cancel.is_set():
            raise Cancelled()
        _, _, action = _record_diff(job, rendered)
        if action is not FileAction.UNCHANGED:
            lines.append(f"would {action} {rendered.path}")
    changed = [d for d in job.diffs if d.action != FileAction.UNCHANGED]
    return Status.INFO, f"{len(changed)} file(s) would change", tuple(lines)


def inherited_files(job: NodeJob) -> list[RenderedFile]:
    """The plan's files that a run that died put in place and this run did not write."""
    written = {c.rendered.path for c in job.changes}
    paths = {e.path for e in job.inherited} - written
    return [f for f in job.plan.files if f.path in paths]


def put_in_place(job: NodeJob) -> list[RenderedFile]:
    """Every file this run (newest first) and a run that died put in place."""
    return [c.rendered for c in reversed(job.changes)] + inherited_files(job)


def put_back(job: NodeJob) -> list[str]:
    """The upload's undo: each file it (or a run that died) put in place back as it was."""
    assert job.node is not None
    problems: list[str] = []
    for rendered in put_in_place(job):
        try:
            job.node.restore_previous(rendered.path)
        except RuntimeError as exc:
            problems.append(str(exc))
    return problems


# --- activate -------------------------------------------------------------------------------


def _run_or_fail(job: NodeJob, argv: list[str], lines: list[str]) -> None:
    assert job.node is not None
    result = job.node.run(argv, timeout=60)
    if not result.ok:
        raise StepFailed(f"{' '.join(argv)} failed", result.output_lines())
    lines.append(" ".join(argv))
    job.actions.append(" ".join(argv))


def _unit_journal(job: NodeJob, unit: str) -> tuple[str, ...]:
    assert job.node is not None
    argv = ["journalctl", "-u", unit, "-n", "12", "--no-pager", "-o", "cat"]
    return job.node.run(argv, timeout=20).output_lines(12)


def _systemctl(job: NodeJob, args: list[str], lines: list[str], unit: str | None = None) -> None:
    assert job.node is not None
    result = job.node.systemctl(*args)
    if not result.ok:
        raise StepFailed(
            f"systemctl {' '.join(args)} failed",
            result.output_lines() + (_unit_journal(job, unit) if unit else ()),
        )
    lines.append(f"{args[0]} {' '.join(args[1:])}".strip())
    job.actions.append(f"systemctl {' '.join(args)}")


def activate(job: NodeJob) -> Outcome:
    """Files no service reads take effect now; each service is enabled and started, or
    restarted (its unit or binary changed) or reloaded (its config changed)."""
    assert job.node is not None
    fault_hooks.drop_ssh(job.node, "activate")
    touched = [c.rendered for c in job.changes] + inherited_files(job)
    changed_units = {f.service for f in touched if f.service}
    restart_units = {f.service for f in touched if f.restart}
    lines: list[str] = []
    for rendered in touched:  # files no service reads: sysctl.d, modules-load.d
        for argv in load_now(rendered):
            _run_or_fail(job, argv, lines)
    if any(f.path.startswith("/etc/systemd/system/") for f in touched):
        _systemctl(job, ["daemon-reload"], lines)
    for unit in job.plan.services:
        enabled, active = job.node.unit_state(unit)
        job.units_before[unit] = (enabled, active)
        job.node.remember_unit_state(unit, enabled, active)
        if not enabled:
            _systemctl(job, ["enable", unit], lines)
        if not active:
            _systemctl(job, ["start", unit], lines, unit)
            job.restarted.append(unit)
        elif unit in restart_units:
            _systemctl(job, ["restart", unit], lines, unit)
            job.restarted.append(unit)
        elif unit in changed_units:
            _systemctl(job, ["reload", unit], lines, unit)
            job.reloaded.append(unit)
    for unit in job.plan.services:
        if not job.node.systemctl("is-active", unit).ok:
            raise StepFailed(f"{unit} is not active after activation", _unit_journal(job, unit))
    fault_hooks.kill_point("activated")
    if not lines:
        return Status.UNCHANGED, "nothing to restart", ()
    return Status.CHANGED, "; ".join(lines), ()


def would_activate(job: NodeJob) -> Outcome:
    assert job.node is not None
    lines: list[str] = []
    for unit in job.plan.services:
        enabled, active = job.node.unit_state(unit)
        if not enabled:
            lines.append(f"would enable {unit}")
        if not active:
            lines.append(f"would start {unit}")
    if any(d.action != FileAction.UNCHANGED for d in job.diffs):
        lines.append(f"would reload or restart {', '.join(job.plan.services) or 'nothing'}")
    job.actions.extend(lines)
    return Status.INFO, "dry run", tuple(lines)


# --- verify ---------------------------------------------------------------------------------


def _wait_settled(job: NodeJob, seconds: float) -> tuple[bool, str]:
    """Runs the plan's settle check until it passes or ``seconds`` are up."""
    assert job.node is not None
    deadline = time.monotonic() + seconds
    while True:
        result = job.node.run(["sh", "-c", job.plan.settle_check], timeout=30)
        if result.ok:
            return True, ""
        lines = result.output_lines(1)
        if time.monotonic() >= deadline or job.cancel.is_set():
            return False, lines[-1] if lines else f"exit {result.returncode}"
        time.sleep(0.5)


def verify(job: NodeJob) -> Outcome:
    """A ready apiserver through the load balancer (and the plan's settle check); then the
    URL that verified it, the node's manifest, and the journal cleared: the change is done."""
    assert job.node is not None
    began = time.monotonic()
    ok, message = job.probe_until(job.options.verify_timeout)
    if not ok:
        raise StepFailed(f"no ready apiserver through the load balancer: {message}")
    if job.plan.settle_check:
        left = max(job.options.verify_timeout - (time.monotonic() - began), 1.0)
        settled, detail = _wait_settled(job, left)
        if not settled:
            raise StepFailed(f"the load balancer did not settle within the verify time: {detail}")
    if job.plan.files:
        job.node.write_small_file(VERIFIED_URL_FILE, job.plan.verify_url + "\n")
    if job.plan.files and job.strategy and job.retiring is None:  # a take-over: retire writes it
        manifest = job.new_manifest()
        if not manifest.same_install(job.installed):  # a re-apply writes nothing
            node_manifest.write(job.node, manifest)
    if job.journal is not None or job.inherited:
        node_journal.clear(job.node)
    return Status.OK, message, ()


APPLY: tuple[Phase[NodeJob], ...] = (
    Phase(PhaseName.CONNECT, 0.05, run=connect, dry_run=connect),
    Phase(PhaseName.FACTS, 0.10, run=facts, dry_run=facts),
    Phase(PhaseName.INSTALL, 0.15, run=install, dry_run=would_install),
    Phase(PhaseName.UPLOAD, 0.20, run=upload, dry_run=would_upload, undo=put_back),
    Phase(PhaseName.ACTIVATE, 0.20, run=activate, dry_run=would_activate),
    Phase(PhaseName.VERIFY, 0.15, run=verify),  # a dry run verifies nothing
    Phase(
        PhaseName.CLIENTS,
        0.05,
        run=repoint_clients,
        dry_run=would_repoint,
        undo=put_clients_back,
        applies=has_clients,
    ),
    # Last: the clients already moved (same address) while both balancers served.
    Phase(
        PhaseName.RETIRE, 0.05, run=retire, dry_run=would_retire, undo=restart_old, applies=retiring
    ),
)
