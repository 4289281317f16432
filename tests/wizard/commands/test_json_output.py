"""``--json`` output as docs/JSON.md describes it: every stdout line one JSON object with
``schema_version`` and ``kind``; verify and drill results carry their overall ``ok``. The engine
is faked: no node is reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.wizard.commands.test_cli_exit_codes import LOOPBACK_PROFILE
from wizard.cli import main
from wizard.engine.drill import DrillReport, NodeDrill
from wizard.engine.events import Event, JsonLinesSink, Status
from wizard.engine.model import NodeResult, NodeState, RunSummary, Secrets
from wizard.engine.verify import NodeCheck, VerifyReport
from wizard.jsonlines import JSON_SCHEMA_VERSION

DOC = Path(__file__).resolve().parents[3] / "docs" / "JSON.md"


def _lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no JSON printed"
    parsed = [json.loads(line) for line in lines]  # every stdout line is JSON, nothing else
    for obj in parsed:
        assert obj["schema_version"] == JSON_SCHEMA_VERSION, obj
    return parsed


@pytest.fixture
def profile(tmp_path, monkeypatch):
    import wizard.engine.secrets_input

    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    path = tmp_path / "loopback.toml"
    path.write_text(LOOPBACK_PROFILE, encoding="utf-8")
    return str(path)


def test_event_line_has_version_and_kind(tmp_path):
    event = Event("m1", "upload", Status.CHANGED, "2 file(s)", ("a", "b"), 0.5, 0.5, run_id="r")
    obj = json.loads(event.to_json())
    assert obj == {
        "schema_version": JSON_SCHEMA_VERSION,
        "kind": "event",
        "node": "m1",
        "phase": "upload",
        "status": "changed",
        "message": "2 file(s)",
        "lines": ["a", "b"],
        "duration": 0.5,
        "progress": 0.5,
        "time": event.time,
        "run_id": "r",
    }
    sink = JsonLinesSink(tmp_path / "events.jsonl")  # the run log: the same lines
    sink(event)
    sink.close()
    assert _lines((tmp_path / "events.jsonl").read_text()) == [obj]


@pytest.mark.parametrize("command", ["apply", "uninstall"])
def test_apply_and_uninstall_json_lines(command, profile, monkeypatch, capsys):
    import wizard.engine.apply

    def fake_run(profile_, options, sink, secrets=None, **kwargs):
        sink(Event(None, "run", Status.STARTED, "1 node(s)"))
        sink(Event("m1", "connect", Status.OK, "connected"))
        sink(Event(None, "run", Status.OK, "1/1 node(s) ok"))
        return RunSummary("run-1", "loopback", (NodeResult("m1", NodeState.VERIFIED),))

    monkeypatch.setattr(wizard.engine.apply, f"run_{command}", fake_run)
    assert main([command, profile, "--yes", "--json"]) == 0
    out = capsys.readouterr().out
    events = _lines(out)
    assert {e["kind"] for e in events} == {"event"}
    assert events[-1]["node"] is None and events[-1]["status"] == "ok"


@pytest.mark.parametrize("ok", [True, False], ids=["ok", "failed"])
def test_verify_json_is_one_line_with_its_ok(ok, profile, monkeypatch, capsys):
    import wizard.engine.verify

    report = VerifyReport(
        "loopback",
        "local-nginx",
        (
            NodeCheck("m1", "https://127.0.0.1:8443/readyz", True, "200", 0.01, "m2"),
            NodeCheck("w1", "https://127.0.0.1:8443/readyz", ok, "200" if ok else "curl exit 7", 0),
        ),
    )
    monkeypatch.setattr(wizard.engine.verify, "run_verify", lambda *a, **k: report)
    assert main(["verify", profile, "--json"]) == (0 if ok else 1)
    (result,) = _lines(capsys.readouterr().out)
    assert result["kind"] == "verify"
    assert result["ok"] is ok
    assert [n["ok"] for n in result["nodes"]] == [True, ok]
    assert result["profile"] == "loopback" and result["problems"] == []


def test_drill_json_has_its_ok_and_each_nodes(profile, monkeypatch, capsys):
    import wizard.engine.drill_run
    import wizard.engine.verify

    report = VerifyReport("loopback", "local-nginx", (NodeCheck("m1", "u", True, "200", 0.01),))
    drill = DrillReport(
        "loopback",
        "local-nginx",
        "m1",
        "kill",
        False,
        (NodeDrill("w1", requests=100, failed=0), NodeDrill("m2", requests=100, failed=3)),
    )
    monkeypatch.setattr(wizard.engine.verify, "run_verify", lambda *a, **k: report)
    monkeypatch.setattr(wizard.engine.drill_run, "run_drill", lambda *a, **k: drill)
    code = main(["verify", profile, "--drill", "--confirm-master", "m1", "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    (result,) = _lines(captured.out)
    assert result["kind"] == "drill" and result["fault"] == "kill" and result["ok"] is False
    assert [n["ok"] for n in result["nodes"]] == [True, False]


def test_the_schema_page_names_every_kind_and_field():
    text = DOC.read_text(encoding="utf-8")
    for word in ("schema_version", "kind", "event", "verify", "drill", "ok"):
        assert f"`{word}`" in text, word
    for field in Event.__dataclass_fields__:
        assert f"`{field}`" in text, field
    for field in NodeCheck.__dataclass_fields__:
        assert f"`{field}`" in text, field
    for field in NodeDrill.__dataclass_fields__:
        assert f"`{field}`" in text, field
    for status in Status:
        assert f"`{status.value}`" in text, status
