"""``retire``, a strategy change in place (:func:`~wizard.engine.node_manifest.takes_over`): the
node's old balancer retired once the new one verified beside it (:class:`Retired`). It applies
only when the facts found another strategy this plan takes over, or this strategy with parts
the plan no longer has (:func:`~wizard.engine.node_manifest.drops`: the profile's agent turned
off, its session cutter dropped): those go the same way, so that no unit of kubeha's runs on
unrecorded and uninstall still finds everything kubeha wrote.

Both balancers bind the same ports with SO_REUSEPORT, so from the new one's start until the old
one stops, each new connection goes to one of two working balancers, and the node's clients keep
the address they use. Then, in order:

1. the old strategy's services stop; a balancer with a drain signal (``NodePlan.drain_signals``:
   nginx's QUIT, haproxy's USR1) is stopped with it, through a runtime drop-in in /run removed
   right after: it closes its listener at once and lets every session in flight finish (a
   long-lived watch at most 10 s: ``worker_shutdown_timeout``, ``hard-stop-after``), so no
   request that reached it fails; its clients reconnect at once, to the new balancer, the only
   one left on the port;
2. the new balancer alone must answer the verify URL (until the verify time is up);
3. the old strategy's files go back to how they were before kubeha (created ones removed),
   its units to their original state, and the node's manifest names the new strategy.

A failure in 1 or 2 is undone by starting the old services again (their files are still there),
after which the apply's rollback removes the new balancer: the node is back on the old one.
Step 3 only removes what nothing runs any more; a file it cannot put back is reported, stays
named in the manifest (the next apply or uninstall tries again), and the node stays on the new
balancer, which verified. A run that dies in between leaves the old
manifest, so the next apply takes over again and finishes (every step is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.engine import node_manifest
from wizard.engine.events import Status
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.phases.facts import FactsFound
from wizard.engine.remote import RemoteNode, q
from wizard.engine.work import ApplyWork

# Longer than the balancers' own limit on a draining session (10 s), shorter than systemd's 90.
DRAIN_S = 20


@dataclass(frozen=True)
class Retired(Record):
    stopped_old: tuple[str, ...] = ()  # the old services this run stopped (undone on failure)
    retired: str = ""  # the strategy it took over from, once done

    @property
    def to_undo(self) -> bool:
        return bool(self.stopped_old)


def _retiring(job: ApplyWork) -> node_manifest.Manifest | None:
    facts = job.found(FactsFound)
    return facts.retiring if facts is not None else None


def retiring(job: ApplyWork) -> bool:
    """The phase applies: the node runs another strategy that this plan takes over."""
    return _retiring(job) is not None


def _old(job: ApplyWork) -> node_manifest.Manifest:
    old = _retiring(job)
    assert old is not None
    return old


def _old_services(job: ApplyWork) -> list[str]:
    return [s for s in _old(job).services if s not in job.plan.services]


def _old_files(job: ApplyWork) -> list[str]:
    ours = {f.path for f in job.plan.files}
    return [path for path in _old(job).files if path not in ours]


def _same_strategy(job: ApplyWork) -> bool:
    """The plan keeps the strategy and drops some of its parts (not a take-over)."""
    return _old(job).strategy == job.strategy


def _dropped(job: ApplyWork) -> str:
    """What the plan no longer has, in a few words."""
    services, files = _old_services(job), _old_files(job)
    return ", ".join(
        [*services, f"{len(files)} file(s)"] if services else [f"{len(files)} file(s)"]
    )


def retire(job: ApplyWork) -> Outcome:
    """The old install's parts the plan no longer has stopped (gently where the old balancer
    has a drain signal), the new install made to serve alone, then the parts' files put back as
    before kubeha; the manifest names what the plan has and any file that could not be put
    back (so that the next apply or uninstall tries again). A take-over and a part dropped
    differ only in their words."""
    assert job.node is not None
    node, old = job.node, _old(job)
    same = _same_strategy(job)
    what = _dropped(job) if same else old.strategy
    lines: list[str] = []
    signals = dict(old.drain_signals)
    job.keep(Retired())
    for unit in _old_services(job):
        if node.systemctl("is-active", unit).ok:
            record = job.found(Retired) or Retired()
            job.keep(replace(record, stopped_old=(*record.stopped_old, unit)))
        result = _stop(node, unit, signals.get(unit))
        if not result.ok and node.systemctl("is-active", unit).ok:
            whose = f"{unit}, which the profile no longer has" if same else f"{what}'s {unit}"
            raise StepFailed(f"cannot stop {whose}", result.output_lines())
        lines.append(f"stopped {unit}")
    if _old_services(job):
        ok, message = job.probe_until(job.options.verify_timeout)
        if not ok:
            raise StepFailed(
                f"{', '.join(job.plan.services)} alone does not serve once {what} stopped: "
                f"{message}"
            )
        lines.append(f"{', '.join(job.plan.services)} alone: {message}")
    job.keep(Retired())  # from here on nothing is undone: the new install serves alone
    unremoved: list[str] = []
    problems = _remove_old(job, lines, unremoved)
    manifest = job.new_manifest()
    node_manifest.write(node, replace(manifest, files=(*manifest.files, *unremoved)))
    given_back = tuple(p for p in _old_files(job) if p not in unremoved)
    lines.extend(f"left: {p}" for p in problems)
    if same:
        action = f"removed what the profile no longer has: {what}"
        job.keep(Retired(actions=(action,), changed_files=given_back))
        return Status.CHANGED, "; ".join([action, *problems]), tuple(lines)
    action = f"took over from {old.strategy} (profile {old.profile!r})"
    job.keep(Retired(retired=old.strategy, actions=(action,), changed_files=given_back))
    message = "; ".join(problems) or f"its {len(_old_files(job))} file(s) removed"
    return Status.CHANGED, f"took over from {old.strategy}; {message}", tuple(lines)


def _stop(node: RemoteNode, unit: str, signal: str | None):
    """``systemctl stop unit``; with ``signal``, the unit's stop made gentle for this once (a
    runtime drop-in: the unit's own stop stays quick for its restarts)."""
    if signal is None:
        return node.systemctl("stop", unit)
    folder = f"/run/systemd/system/{unit}.d"
    drop_in = f"{folder}/kubeha-drain.conf"
    text = f"[Service]\nKillSignal={signal}\nKillMode=mixed\nTimeoutStopSec={DRAIN_S}\n"
    node.sh(
        f"mkdir -p {q(folder)} && printf %s {q(text)} > {q(drop_in)} && systemctl daemon-reload"
    )
    try:
        return node.systemctl("stop", unit, timeout=DRAIN_S + 30)
    finally:
        node.sh(f"rm -f {q(drop_in)}; rmdir {q(folder)} 2>/dev/null; systemctl daemon-reload")


def _remove_old(job: ApplyWork, lines: list[str], unremoved: list[str]) -> list[str]:
    """The old strategy's files as they were before kubeha, its units as they were; the paths
    it could not put back are added to ``unremoved``."""
    assert job.node is not None
    node, problems = job.node, []
    removed: list[str] = []
    for path in reversed(_old_files(job)):
        try:
            outcome = node.restore_original(path)
        except RuntimeError as exc:
            problems.append(str(exc))
            unremoved.append(path)
            continue
        if outcome != "kept":
            lines.append(f"{outcome} {path}")
            removed.append(path)
    if any(p.startswith("/etc/systemd/system/") for p in removed):
        node.systemctl("daemon-reload")
    for unit in _old_services(job):
        node.systemctl("reset-failed", unit)  # no "failed" left behind by a unit now gone
        before = node.recall_unit_state(unit)
        if before is not None and node.systemctl("cat", unit, timeout=20).ok:
            enabled, active = before
            node.systemctl("enable" if enabled else "disable", unit)
            if active and not node.systemctl("restart", unit).ok:
                problems.append(f"{unit} did not start on its original config")
        node.forget_unit_state(unit)
    return problems


def would_retire(job: ApplyWork) -> Outcome:
    old = _old(job)
    if _same_strategy(job):
        lines = [
            *(f"would stop {unit}, which the profile no longer has" for unit in _old_services(job)),
            *(f"would put back {path} as before kubeha" for path in _old_files(job)),
        ]
        job.keep(Retired(actions=tuple(lines)))
        return (
            Status.INFO,
            f"would remove what the profile no longer has: {_dropped(job)}",
            tuple(lines),
        )
    lines = [
        f"would stop {', '.join(_old_services(job))} once {', '.join(job.plan.services)} "
        f"verifies beside it on the same port",
        *(f"would put back {path} as before kubeha" for path in _old_files(job)),
    ]
    job.keep(Retired(actions=tuple(lines)))
    return (
        Status.INFO,
        f"would take over from {old.strategy} (profile {old.profile!r})",
        tuple(lines),
    )


def restart_old(job: ApplyWork) -> list[str]:
    """The undo: the old strategy's services that this run stopped, started again."""
    assert job.node is not None
    problems = []
    record = job.found(Retired) or Retired()
    for unit in record.stopped_old:
        if not job.node.systemctl("start", unit).ok:
            problems.append(f"{unit} did not start again")
    job.keep(replace(record, stopped_old=()))
    return problems


# Last: the clients already moved (same address) while both balancers served.
PHASE: Phase[ApplyWork] = Phase(
    PhaseName.RETIRE, 0.05, run=retire, dry_run=would_retire, undo=restart_old, applies=retiring
)
