"""A phase is one module plus one line in a list (a node's: wizard/engine/phases/ and its
order.py; the run's: wizard/engine/run_phases/ and its order.py): every module there is listed,
a node's phase keeps a frozen record of its own, and a dummy phase added to a test-only list
goes through the runner with no other change to the engine: a node's
(tests/support/engine_dummy_phase.py) through the result, the dry run and the rollback; the run's
(tests/support/engine_dummy_run_phase.py) before the nodes, in the dry run, and stopping the run with
no node touched."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import wizard.engine.apply
import wizard.engine.phases
import wizard.engine.run_phases
from tests.support import engine_dummy_phase as dummy
from tests.support import engine_dummy_run_phase as dummy_run
from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from tests.support.fake_runs import apply_on
from wizard.engine.apply import run_apply
from wizard.engine.job import Record
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.node_job import NodeJob
from wizard.engine.phase import Phase
from wizard.engine.phases.order import APPLY, UNINSTALL
from wizard.engine.run_phases.order import RUN_APPLY, RUN_UNINSTALL
from wizard.render import build_plan

REPO = Path(__file__).resolve().parents[3]
PHASE_MODULES = sorted(
    f"{package.__name__}.{m.name}"
    for package in (wizard.engine.phases, wizard.engine.run_phases)
    for m in pkgutil.iter_modules(package.__path__)
    if m.name != "order"  # the lists themselves
)


def _runs(phases) -> set:
    return {p.run for p in phases}


@pytest.mark.parametrize("name", PHASE_MODULES)
def test_every_phase_module_is_one_phase_in_a_list_with_a_frozen_record(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module.PHASE, Phase), name
    if name.startswith("wizard.engine.run_phases."):
        assert module.PHASE.run in _runs(RUN_APPLY) | _runs(RUN_UNINSTALL), f"{name} is unlisted"
        return  # a phase of the run: it writes the run's own fields (wizard.engine.run.Run)
    assert module.PHASE.run in _runs(APPLY) | _runs(UNINSTALL), f"{name} is in no list"
    records = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Record)
        and value.__module__ == module.__name__
    ]
    for record in records:
        assert record.__dataclass_params__.frozen, record  # type: ignore[attr-defined]
    assert records or name.endswith(".connect"), (
        f"{name} keeps no record of its own"
    )  # connect: the job's


def test_every_listed_phase_has_a_module_and_its_name_in_the_json_contract() -> None:
    contract = (REPO / "docs" / "JSON.md").read_text(encoding="utf-8")
    row = next(line for line in contract.splitlines() if line.startswith("| `phase` |"))
    named = set(re.findall(r"`([a-z]+)`", row))
    for phase in (*APPLY, *UNINSTALL):
        assert phase.title in named, phase.title
        assert phase.run.__module__.startswith("wizard.engine.phases."), phase.run


def _apply(profile, cluster, events, monkeypatch, phases, **options):
    monkeypatch.setattr(NodeJob, "phases", phases)  # the test-only list
    return run_apply(
        build_plan(profile),
        ApplyOptions(verify_timeout=0.5, **options),
        events.append,
        connector=cluster,
    )


@pytest.fixture
def profile():
    return example_profile("local-nginx")


@pytest.fixture
def cluster(profile):
    return FakeCluster([n.name for n in profile.all_nodes()])


def test_a_new_phase_is_one_module_and_one_line(profile, cluster, monkeypatch) -> None:
    events: list = []
    phases = (*APPLY, dummy.PHASE)  # the one line
    summary = _apply(profile, cluster, events, monkeypatch, phases)
    assert summary.ok
    result = summary.nodes[0]
    assert result.state is NodeState.VERIFIED
    assert dummy.STAMP in result.changed_files
    assert result.actions[-1] == f"stamped {dummy.STAMP}"
    assert cluster.nodes[result.node].files[dummy.STAMP] == f"{result.node}\n"
    mine = [(e.status, e.message) for e in events if e.node == result.node and e.phase == "stamp"]
    assert [s for s, _ in mine] == ["started", "changed"]


def test_a_new_phases_dry_run_and_undo_come_from_its_module(profile, cluster, monkeypatch):
    events: list = []
    summary = _apply(profile, cluster, events, monkeypatch, (*APPLY, dummy.PHASE), dry_run=True)
    assert summary.nodes[0].actions[-1] == f"would stamp {dummy.STAMP}"
    assert all(dummy.STAMP not in n.files for n in cluster.nodes.values())

    for node in cluster.nodes.values():
        node.serving = False  # verify fails after the stamp: the rollback takes it back
    stamp_first = (*APPLY[:5], dummy.PHASE, *APPLY[5:])
    summary = _apply(profile, cluster, events, monkeypatch, stamp_first)
    assert {n.state for n in summary.nodes} == {NodeState.ROLLED_BACK}
    assert all(dummy.STAMP not in n.files for n in cluster.nodes.values())


def test_the_records_are_replaced_whole_never_changed() -> None:
    record = dummy.Stamped(actions=("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.actions = ()  # type: ignore[misc]


def _run_with(profile, cluster, monkeypatch, phases, **options):
    monkeypatch.setattr(wizard.engine.apply, "RUN_APPLY", phases)  # the test-only list
    return apply_on(profile, cluster, **options)


def test_a_new_run_phase_is_one_module_and_one_line(profile, cluster, monkeypatch) -> None:
    phases = (dummy_run.PHASE, *RUN_APPLY)  # the one line
    summary, events = _run_with(profile, cluster, monkeypatch, phases)
    assert summary.ok
    [gate] = [e for e in events if e.phase == "gate"]
    assert gate.node is None and gate.message == f"gate open for {len(cluster.nodes)} node(s)"
    assert events.index(gate) < next(i for i, e in enumerate(events) if e.node is not None)

    summary, events = _run_with(profile, cluster, monkeypatch, phases, dry_run=True)
    assert [e.message for e in events if e.phase == "gate"] == ["would open the gate for 5"]


def test_a_new_run_phase_stops_the_run_before_any_node(profile, cluster, monkeypatch) -> None:
    monkeypatch.setattr(dummy_run, "CLOSED", True)
    summary, events = _run_with(profile, cluster, monkeypatch, (dummy_run.PHASE, *RUN_APPLY))
    assert {n.state for n in summary.nodes} == {NodeState.UNTOUCHED}
    assert {n.reason for n in summary.nodes} == {
        "not started: the dummy gate failed (the gate is closed)"
    }
    assert any(e.message.startswith("dummy gate failed") for e in events if e.phase == "run")
    assert all(node.log == [] for node in cluster.nodes.values())  # not even connected
