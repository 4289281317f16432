"""The uninstall's ``clients`` (only with ``[clients] repoint = true``), before the load
balancer goes: each kubeconfig kubeha repointed gets its original server back (from its
``.kubeha-orig``; any other change since is kept), its unit restarted (:class:`PointedBack`).
A kubeconfig that cannot be pointed back is a problem: the load balancer is then kept."""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.engine.clients import read_record, replace_file, restart_pod, write_record
from wizard.engine.events import Status
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.remote import ORIG, PREV
from wizard.engine.work import Undone, UninstallWork, has_clients
from wizard.retrofit import kubeconfig


@dataclass(frozen=True)
class PointedBack(Undone):
    """``changed_files``: the kubeconfigs pointed back."""


def _problem(job: UninstallWork, problem: str) -> None:
    record = job.found(PointedBack) or PointedBack()
    job.keep(replace(record, problems=(*record.problems, problem)))


def point_clients_back(job: UninstallWork) -> Outcome:
    node, plan = job.node, job.clients
    assert node is not None and plan is not None
    job.keep(PointedBack())
    lines: list[str] = []
    units: list[str] = []
    pods: list[str] = []
    record = read_record(node)
    recorded = dict(record)
    for target in plan.kubeconfigs:
        original = node.read_text(target.path + ORIG)
        if original is None:  # never repointed, or already pointed back
            record.pop(target.path, None)
            continue
        current = node.read_text(target.path)
        if current is None:
            _problem(job, f"{target.path} is gone: its original is kept as {ORIG}")
            continue
        back = kubeconfig.point_back(
            current,
            original,
            plan.server_url,
            plan.former_servers,
            record.get(target.path),  # None: repointed by a kubeha that kept no record
            plan.old_endpoints,
        )
        if back.stuck:  # a client would be left on the LB: keep the LB, the backup, the file
            _problem(
                job,
                f"{target.path}: cannot be pointed back ({'; '.join(back.stuck)}): left as it "
                f"is, its original kept as {target.path}{ORIG}, and the load balancer left in "
                "place; point that server back by hand (or remove the entry), then run "
                "uninstall again",
            )
            continue
        if back.changed:
            try:
                replace_file(node, target.path, back.text)
            except RuntimeError as exc:  # a client left on the LB: keep the LB for it
                _problem(job, str(exc))
                raise StepFailed(
                    f"{target.path} not pointed back ({exc}): the load balancer is left in place"
                ) from None
            lines.append(f"{target.path}: {back.diff_line}")
            done = job.found(PointedBack) or PointedBack()
            job.keep(replace(done, changed_files=(*done.changed_files, target.path)))
            if target.unit and target.unit not in units:
                units.append(target.unit)
            if target.pod and target.pod not in pods:
                pods.append(target.pod)
        node.run(["rm", "-f", target.path + ORIG, target.path + PREV])
        record.pop(target.path, None)
    if record != recorded:
        write_record(node, record)
    for unit in units:
        if node.unit_state(unit)[1]:
            if node.systemctl("restart", unit).ok:
                lines.append(f"restarted {unit}")
            else:
                _problem(job, f"{unit} did not restart on its original kubeconfig")
    for pod in pods:
        ok, what = restart_pod(node, pod, job.options.kubelet_restart_timeout)
        if ok:
            lines.append(what)
        else:
            _problem(job, what)
    done = job.found(PointedBack) or PointedBack()
    job.keep(replace(done, lines=tuple(lines)))
    status = Status.CHANGED if lines else Status.UNCHANGED
    return status, f"{len(job.folded('changed_files'))} kubeconfig(s) pointed back", tuple(lines)


PHASE: Phase[UninstallWork] = Phase(
    PhaseName.CLIENTS, 0.0, run=point_clients_back, applies=has_clients
)
