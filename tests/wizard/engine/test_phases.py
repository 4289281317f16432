"""The engine's phases as data: the APPLY and UNINSTALL lists, the progress they give, the one
runner that walks them (dry runs, cancel, undo in reverse), and the per-distro package names."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from wizard.engine.apply_phases import APPLY
from wizard.engine.events import Status
from wizard.engine.model import ApplyOptions, NodeResult, NodeState
from wizard.engine.node_job import PROGRESS
from wizard.engine.phase import Phase, PhaseName, StepFailed, progress_marks
from wizard.engine.runner import run_phases
from wizard.engine.uninstall_job import UNINSTALL


def test_apply_and_uninstall_are_ordered_lists_of_phases() -> None:
    assert [p.title for p in APPLY] == [
        "connect",
        "facts",
        "install",
        "upload",
        "activate",
        "verify",
        "clients",  # only with [clients] repoint = true
        "retire",  # only when this strategy takes another's port over in place
    ]
    assert [p.title for p in UNINSTALL] == ["connect", "clients", "activate"]
    assert [p.title for p in APPLY if p.dry_run is None] == ["verify"]  # a dry run verifies nothing
    assert [p.title for p in APPLY if p.undo is not None] == ["upload", "clients", "retire"]
    assert [p.title for p in (*APPLY, *UNINSTALL) if p.applies is not None] == [
        "clients",
        "retire",
        "clients",
    ]


def test_an_applys_progress_comes_from_its_list() -> None:
    assert PROGRESS == {
        "connect": 0.05,
        "facts": 0.15,
        "install": 0.3,
        "upload": 0.5,
        "activate": 0.7,
        "verify": 0.85,
        "clients": 0.9,
        "retire": 0.95,
        "rollback": 0.9,
    }
    assert progress_marks(UNINSTALL) == {"connect": 0.2, "clients": 0.2, "activate": 0.4}


@dataclass
class Job:
    """A job that records what the runner did with it."""

    options: ApplyOptions = field(default_factory=ApplyOptions)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: list[str] = field(default_factory=list)
    events: list[tuple[str, Status, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def event(self, phase, status, message="", lines=(), duration=None) -> None:
        self.events.append((phase, status, message))

    def after_undo(self, problems: list[str]) -> tuple[Status, str]:
        self.done.append("after undo")
        return (Status.FAILED, "; ".join(problems)) if problems else (Status.OK, "restored")

    def finished(self) -> NodeResult:
        return self.result(NodeState.VERIFIED, "ok")

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        return NodeResult("n1", state, reason, rollback=rollback)


def step(name: str, change: bool = False, fail: bool = False, undo: bool = True) -> Phase[Job]:
    def run(job: Job):
        job.done.append(name)
        if change:
            job.changes.append(name)
        if fail:
            raise StepFailed(f"{name} broke")
        return Status.OK, name, ()

    def dry(job: Job):
        job.done.append(f"would {name}")
        return Status.INFO, name, ()

    def back(job: Job) -> list[str]:
        job.done.append(f"undo {name}")
        return []

    return Phase(PhaseName(name), 0.1, run=run, dry_run=dry, undo=back if undo else None)


def test_a_failure_undoes_every_started_phase_in_reverse_then_the_closing_step() -> None:
    job = Job()
    phases = [step("connect"), step("upload", change=True), step("activate", fail=True)]
    result = run_phases(job, [*phases, step("verify")])
    assert job.done == [
        "connect",
        "upload",
        "activate",
        "undo activate",
        "undo upload",
        "undo connect",
        "after undo",
    ]
    assert result.state is NodeState.ROLLED_BACK and result.reason == "activate broke"
    assert ("done", Status.FAILED, "failed: activate broke; restored") in job.events


def test_a_failure_before_any_change_undoes_nothing() -> None:
    job = Job()
    result = run_phases(job, [step("connect", fail=True), step("upload")])
    assert job.done == ["connect"] and result.state is NodeState.UNTOUCHED
    assert job.events[-1] == ("done", Status.FAILED, "failed: connect broke; nothing was changed")


def test_a_change_no_phase_can_undo_leaves_the_node_broken() -> None:
    job = Job()
    result = run_phases(
        job, [step("upload", change=True, undo=False), step("verify", fail=True, undo=False)]
    )
    assert result.state is NodeState.BROKEN and "after undo" not in job.done


def test_a_dry_run_runs_each_phases_dry_run_and_skips_those_without() -> None:
    job = Job(options=ApplyOptions(dry_run=True))
    verify = Phase(PhaseName.VERIFY, 0.1, run=step("verify").run)
    assert run_phases(job, [step("connect"), step("upload"), verify]).ok
    assert job.done == ["would connect", "would upload"]


def test_a_failed_dry_run_undoes_nothing() -> None:
    """A dry run makes no change: what it read (an interrupted run's journal) is not undone."""
    job = Job(options=ApplyOptions(dry_run=True), changes=["left by a run that died"])
    failing = Phase(
        PhaseName.ACTIVATE, 0.1, run=step("activate").run, dry_run=step("verify", fail=True).run
    )
    result = run_phases(job, [step("upload"), failing])
    assert result.state is NodeState.UNTOUCHED
    assert not [d for d in job.done if d.startswith("undo") or d == "after undo"]


def test_a_cancel_stops_between_phases() -> None:
    job = Job()
    cancelling = step("connect")

    def run(j: Job):
        j.cancel.set()
        return cancelling.run(j)

    phases = [Phase(PhaseName.CONNECT, 0.1, run=run), step("upload")]
    result = run_phases(job, phases)
    assert result.state is NodeState.CANCELLED and job.done == ["connect"]


@pytest.mark.parametrize(
    ("family", "binaries", "missing"),
    [
        ("debian", {"curl"}, ["nginx-light", "libnginx-mod-stream"]),
        ("redhat", {"curl"}, ["nginx", "nginx-mod-stream"]),
        ("debian", {"curl", "nginx"}, []),
        ("debian", set(), ["nginx-light", "libnginx-mod-stream", "curl"]),
    ],
)
def test_install_asks_the_plans_packages_by_their_program_and_family(family, binaries, missing):
    """The names per distro family are the strategy's (``wizard.packages``)."""
    from wizard.engine.apply_phases import _missing
    from wizard.engine.facts import Facts
    from wizard.packages import CURL
    from wizard.strategies.local_nginx import NGINX

    plan = SimpleNamespace(packages=(NGINX, CURL))
    job = SimpleNamespace(plan=plan, facts=Facts(family, "", "systemd", frozenset(binaries)))
    assert _missing(job) == missing
