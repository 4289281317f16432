"""``activate``: files no service reads take effect now (sysctl.d, modules-load.d); each
service is enabled and started, or restarted (its unit or binary changed) or reloaded (its
config changed) (:class:`Activated`). It has no undo of its own: the rollback's end,
:func:`reactivate`, runs after every file is back, and brings the services back on them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.engine import fault_hooks, node_journal
from wizard.engine.events import Status
from wizard.engine.job import Record
from wizard.engine.loadnow import load_now
from wizard.engine.model import FileAction
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.phases.upload import uploaded
from wizard.engine.work import ApplyWork


@dataclass(frozen=True)
class Activated(Record):
    # Each service as it was before this run: (unit, (enabled, active)).
    units_before: tuple[tuple[str, tuple[bool, bool]], ...] = ()


def _activated(job: ApplyWork) -> Activated:
    return job.found(Activated) or Activated()


def _did(job: ApplyWork, action: str, lines: list[str], line: str) -> None:
    lines.append(line)
    record = _activated(job)
    job.keep(replace(record, actions=(*record.actions, action)))


def _run_or_fail(job: ApplyWork, argv: list[str], lines: list[str]) -> None:
    assert job.node is not None
    result = job.node.run(argv, timeout=60)
    if not result.ok:
        raise StepFailed(f"{' '.join(argv)} failed", result.output_lines())
    _did(job, " ".join(argv), lines, " ".join(argv))


def _unit_journal(job: ApplyWork, unit: str) -> tuple[str, ...]:
    assert job.node is not None
    argv = ["journalctl", "-u", unit, "-n", "12", "--no-pager", "-o", "cat"]
    return job.node.run(argv, timeout=20).output_lines(12)


def _systemctl(job: ApplyWork, args: list[str], lines: list[str], unit: str | None = None) -> None:
    assert job.node is not None
    result = job.node.systemctl(*args)
    if not result.ok:
        raise StepFailed(
            f"systemctl {' '.join(args)} failed",
            result.output_lines() + (_unit_journal(job, unit) if unit else ()),
        )
    _did(job, f"systemctl {' '.join(args)}", lines, f"{args[0]} {' '.join(args[1:])}".strip())


def activate(job: ApplyWork) -> Outcome:
    assert job.node is not None
    fault_hooks.drop_ssh(job.node, "activate")
    files = uploaded(job)
    touched = [c.rendered for c in files.changes] + files.inherited_files(job.plan.files)
    changed_units = {f.service for f in touched if f.service}
    restart_units = {f.service for f in touched if f.restart}
    lines: list[str] = []
    job.keep(Activated())
    for rendered in touched:  # files no service reads: sysctl.d, modules-load.d
        for argv in load_now(rendered):
            _run_or_fail(job, argv, lines)
        if rendered.path in job.plan.static_pods:  # kubelet (re)starts it; verify waits for it
            _did(job, f"kubelet runs {rendered.path}", lines, f"kubelet runs {rendered.path}")
    if any(f.path.startswith("/etc/systemd/system/") for f in touched):
        _systemctl(job, ["daemon-reload"], lines)
    for unit in job.plan.services:
        enabled, active = job.node.unit_state(unit)
        record = _activated(job)
        job.keep(replace(record, units_before=(*record.units_before, (unit, (enabled, active)))))
        job.node.remember_unit_state(unit, enabled, active)
        if not enabled:
            _systemctl(job, ["enable", unit], lines)
        if not active:
            _systemctl(job, ["start", unit], lines, unit)
            job.keep(replace(_activated(job), restarted=(*_activated(job).restarted, unit)))
        elif unit in restart_units:
            _systemctl(job, ["restart", unit], lines, unit)
            job.keep(replace(_activated(job), restarted=(*_activated(job).restarted, unit)))
        elif unit in changed_units:
            _systemctl(job, ["reload", unit], lines, unit)
            job.keep(replace(_activated(job), reloaded=(*_activated(job).reloaded, unit)))
    for unit in job.plan.services:
        if not job.node.systemctl("is-active", unit).ok:
            raise StepFailed(f"{unit} is not active after activation", _unit_journal(job, unit))
    fault_hooks.kill_point("activated")
    if not lines:
        return Status.UNCHANGED, "nothing to restart", ()
    return Status.CHANGED, "; ".join(lines), ()


def would_activate(job: ApplyWork) -> Outcome:
    assert job.node is not None
    lines: list[str] = []
    for unit in job.plan.services:
        enabled, active = job.node.unit_state(unit)
        if not enabled:
            lines.append(f"would enable {unit}")
        if not active:
            lines.append(f"would start {unit}")
    changed = [d for d in uploaded(job).diffs if d.action != FileAction.UNCHANGED]
    if changed:
        lines.append(f"would reload or restart {', '.join(job.plan.services) or 'nothing'}")
    for diff in changed:
        if diff.path in job.plan.static_pods:
            lines.append(f"kubelet would (re)start the static pod {diff.path}")
    job.keep(Activated(actions=tuple(lines)))
    return Status.INFO, "dry run", tuple(lines)


def reactivate(job: ApplyWork, problems: list[str]) -> tuple[Status, str]:
    """The rollback's end, once every file is back: re-activate the previous config, clear
    the node's journal, and check that the previous config serves again."""
    assert job.node is not None
    files = uploaded(job)
    if any(f.path.startswith("/etc/systemd/system/") for f in files.put_in_place(job.plan.files)):
        job.node.systemctl("daemon-reload")
    for unit, (enabled, active) in dict(_activated(job).units_before).items():
        # Back to how the unit was before this run: running on the restored config, or
        # stopped (and disabled) when it was not running before.
        if active:
            if not job.node.systemctl("restart", unit).ok:
                problems.append(f"{unit} did not restart on the previous config")
        else:
            job.node.systemctl("stop", unit)
        if not enabled:
            job.node.systemctl("disable", unit)
    if not problems:
        try:
            node_journal.clear(job.node)
        except RuntimeError as exc:
            problems.append(str(exc))
    if problems:
        return Status.FAILED, "rollback incomplete: " + "; ".join(problems)
    if files.served_before and files.previous_url:
        # a static pod given back is restarted by kubelet, not here: it may take longer
        wait = max(10.0, job.options.static_pod_verify_timeout) if job.plan.static_pods else 10.0
        ok, detail = job.probe_until(wait, files.previous_url)
        if ok:
            return Status.OK, f"previous config restored and serving again ({detail})"
        return Status.FAILED, f"previous config restored but NOT serving: {detail}"
    return Status.OK, "previous state restored (it was not serving before this run either)"


PHASE: Phase[ApplyWork] = Phase(PhaseName.ACTIVATE, 0.20, run=activate, dry_run=would_activate)
