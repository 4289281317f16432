"""One exit-code scheme for every command (wizard.errors, the README's table): 0 ok, 1 the thing
checked failed (an invalid profile, a failed node or verify), 2 usage or input that could not be
read. Every command meets the same profiles and gets the same code; none reaches a node here (an
unreadable or invalid profile stops before any connection, the runs that pass are faked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.cli import main
from wizard.engine.model import NodeResult, NodeState, RunSummary
from wizard.engine.verify import NodeCheck, VerifyReport
from wizard.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

# Nodes reached, if anything ever tried, only through closed loopback ports.
LOOPBACK_PROFILE = """\
schema_version = 1
name = "loopback"
strategy = "local-nginx"
workers = [{ name = "w1", address = "10.77.0.21", ssh = { host = "127.0.0.1", port = 7 } }]

[[masters]]
name = "m1"
address = "10.77.0.11"
ssh = { host = "127.0.0.1", port = 9 }

[[masters]]
name = "m2"
address = "10.77.0.12"
ssh = { host = "127.0.0.1", port = 13 }

[ssh]
user = "root"
"""

PROFILES = {
    "missing": None,
    "folder": None,
    "not-toml": "[[masters]\n",
    "unknown-key": LOOPBACK_PROFILE.replace(
        'strategy = "local-nginx"', 'strategy = "local-nginx"\nbogus = 1'
    ),
    "wrong-type": LOOPBACK_PROFILE.replace('name = "loopback"', "name = 3"),
    "bad-address": LOOPBACK_PROFILE.replace("10.77.0.11", "10.77.0.300"),
}
EXPECTED = {
    "missing": EXIT_USAGE,  # cannot be read
    "folder": EXIT_USAGE,
    "not-toml": EXIT_USAGE,  # cannot be parsed
    "unknown-key": EXIT_FAILED,  # read, but not a valid profile
    "wrong-type": EXIT_FAILED,
    "bad-address": EXIT_FAILED,
}
COMMANDS = {
    "validate": ["validate", "{p}"],
    "render": ["render", "{p}", "--out", "{out}"],
    "apply --dry-run": ["apply", "{p}", "--dry-run"],
    "apply --yes": ["apply", "{p}", "--yes"],
    "apply --json": ["apply", "{p}", "--yes", "--json"],
    "uninstall": ["uninstall", "{p}", "--yes"],
    "verify": ["verify", "{p}"],
    "verify --json": ["verify", "{p}", "--json"],
    "verify --drill": ["verify", "{p}", "--drill", "--confirm-master", "m1"],
}


def _profile(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.toml"
    if kind == "folder":
        path.mkdir()
    elif kind == "ok":
        path.write_text(LOOPBACK_PROFILE, encoding="utf-8")
    elif PROFILES[kind] is not None:
        path.write_text(PROFILES[kind], encoding="utf-8")
    return path


def _run(command: str, path: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    argv = [a.format(p=path, out=tmp_path / "out") for a in COMMANDS[command]]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(autouse=True)
def _no_real_engine(monkeypatch):
    """Nothing here may reach a node: the engine's entry points fail the test if called."""

    def refuse(*args, **kwargs):
        raise AssertionError("a bad profile reached the engine")

    import wizard.engine.apply
    import wizard.engine.drill_run
    import wizard.engine.verify

    monkeypatch.setattr(wizard.engine.apply, "run_apply", refuse)
    monkeypatch.setattr(wizard.engine.apply, "run_uninstall", refuse)
    monkeypatch.setattr(wizard.engine.verify, "run_verify", refuse)
    monkeypatch.setattr(wizard.engine.drill_run, "run_drill", refuse)


@pytest.mark.parametrize("kind", list(PROFILES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_exits_alike_on_a_bad_profile(command, kind, tmp_path, capsys):
    path = _profile(tmp_path, kind)
    code, output = _run(command, path, tmp_path, capsys)
    assert code == EXPECTED[kind], output
    assert "Traceback" not in output
    assert str(path) in output or "'loopback'" in output  # names the file or the profile


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["validate"], EXIT_USAGE),
        (["validate", "a.toml", "b.toml"], EXIT_USAGE),
        (["render", "a.toml"], EXIT_USAGE),
        (["apply", "a.toml", "--concurrency", "x"], EXIT_USAGE),
        (["apply", "a.toml", "--bogus"], EXIT_USAGE),
        (["uninstall", "a.toml", "--concurrency", "999"], EXIT_USAGE),
        (["verify", "a.toml", "--kind", "melt"], EXIT_USAGE),
        (["lab", "up", "--masters", "x"], EXIT_USAGE),
        (["nonsense"], EXIT_USAGE),
    ],
)
def test_bad_arguments_exit_2(argv, code, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == code
    assert "Traceback" not in capsys.readouterr().err


def test_valid_profile_exits_0_from_validate_and_render(tmp_path, capsys):
    path = _profile(tmp_path, "ok")
    assert _run("validate", path, tmp_path, capsys)[0] == EXIT_OK
    assert _run("render", path, tmp_path, capsys)[0] == EXIT_OK


def _summary(ok: bool) -> RunSummary:
    state = NodeState.VERIFIED if ok else NodeState.UNTOUCHED
    return RunSummary("run-1", "loopback", (NodeResult("m1", state, "" if ok else "refused"),))


def _report(ok: bool) -> VerifyReport:
    check = NodeCheck(
        "m1", "https://127.0.0.1:8443/readyz", ok, "200" if ok else "unreachable", 0.01
    )
    return VerifyReport("loopback", "local-nginx", (check,))


@pytest.mark.parametrize("ok", [True, False], ids=["ok", "failed"])
@pytest.mark.parametrize("command", ["apply --yes", "uninstall", "verify"])
def test_a_run_exits_0_when_ok_and_1_when_a_node_failed(command, ok, tmp_path, capsys, monkeypatch):
    import wizard.engine.apply
    import wizard.engine.secrets_input
    import wizard.engine.verify
    from wizard.engine.model import Secrets

    path = _profile(tmp_path, "ok")
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    monkeypatch.setattr(wizard.engine.apply, "run_apply", lambda *a, **k: _summary(ok))
    monkeypatch.setattr(wizard.engine.apply, "run_uninstall", lambda *a, **k: _summary(ok))
    monkeypatch.setattr(wizard.engine.verify, "run_verify", lambda *a, **k: _report(ok))
    code, output = _run(command, path, tmp_path, capsys)
    assert code == (EXIT_OK if ok else EXIT_FAILED), output


def test_a_drill_that_cannot_reach_its_master_exits_1(tmp_path, capsys, monkeypatch):
    import wizard.engine.drill_run
    import wizard.engine.secrets_input
    import wizard.engine.verify
    from wizard.engine.model import Secrets
    from wizard.errors import CheckFailed

    def unreachable(*args, **kwargs):
        raise CheckFailed("cannot reach master m1 over SSH to stop its apiserver")

    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    monkeypatch.setattr(wizard.engine.verify, "run_verify", lambda *a, **k: _report(True))
    monkeypatch.setattr(wizard.engine.drill_run, "run_drill", unreachable)
    code, output = _run("verify --drill", _profile(tmp_path, "ok"), tmp_path, capsys)
    assert code == EXIT_FAILED and "cannot reach master m1" in output, output
