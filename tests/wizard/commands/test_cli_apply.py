"""``kubeha apply`` and ``kubeha uninstall`` refuse bad input before touching any node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wizard.paths import EXAMPLE_PROFILES_DIR

EXAMPLE = str(EXAMPLE_PROFILES_DIR / "local-nginx.toml")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def own_copy(tmp_path) -> str:
    """The example with addresses of one's own: apply refuses the documentation ones."""
    path = tmp_path / "mine.toml"
    path.write_text(Path(EXAMPLE).read_text().replace("192.0.2.", "10.0.0."))
    return str(path)


def test_apply_without_yes_and_without_a_terminal_changes_nothing(tmp_path):
    result = run("apply", own_copy(tmp_path))
    assert result.returncode == 2
    assert "add --yes" in result.stderr and "Traceback" not in result.stderr
    assert "master1" in result.stdout  # the plan was shown first


def test_apply_refuses_an_invalid_profile(write_toml):
    path = write_toml(
        'name = "x"\nstrategy = "local-nginx"\n[[masters]]\nname = "m1"\naddress = "10.0.0.300"\n'
    )
    result = run("apply", str(path), "--yes")
    assert result.returncode == 1 and "masters[0].address: '10.0.0.300'" in result.stderr


def test_unknown_node_in_only():
    result = run("apply", EXAMPLE, "--only", "nope", "--yes")
    assert result.returncode == 2 and "no node named nope" in result.stderr


def test_concurrency_out_of_range_is_a_usage_error():
    result = run("apply", EXAMPLE, "--concurrency", "0")
    assert result.returncode == 2 and "expected a whole number from 1 to 256" in result.stderr


def test_resume_without_a_previous_run():
    result = run("apply", EXAMPLE, "--resume", "--yes")
    assert result.returncode == 2 and "no previous run" in result.stderr


def test_uninstall_needs_confirmation(tmp_path):
    result = run("uninstall", own_copy(tmp_path))
    assert result.returncode == 2 and "add --yes" in result.stderr


def test_missing_profile_file(tmp_path):
    result = run("apply", str(tmp_path / "none.toml"), "--yes")
    assert result.returncode == 2 and "no such profile file" in result.stderr


def test_apply_validates_and_renders_once_and_the_engine_gets_that_plan(tmp_path, monkeypatch):
    """The CLI's one plan: one validation, one render, and that object handed to the engine."""
    import wizard.commands.loading as loading
    import wizard.engine.apply
    import wizard.engine.secrets_input
    import wizard.validation
    from wizard.cli import main
    from wizard.engine.model import NodeResult, NodeState, RunSummary, Secrets

    validated, rendered, applied = [], [], []

    def counted(func, calls):
        def call(*args, **kwargs):
            result = func(*args, **kwargs)
            calls.append(result)
            return result

        return call

    validate = counted(wizard.validation.validate, validated)
    monkeypatch.setattr(wizard.validation, "validate", validate)  # build_plan's, imported late
    monkeypatch.setattr(loading, "validate", validate)
    monkeypatch.setattr(loading, "build_plan", counted(loading.build_plan, rendered))
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())

    def run_apply(plan, options, sink, **kwargs):
        applied.append(plan)
        nodes = tuple(NodeResult(n.node, NodeState.VERIFIED) for n in plan.nodes)
        return RunSummary("run-1", plan.profile.name, nodes)

    monkeypatch.setattr(wizard.engine.apply, "run_apply", run_apply)
    assert main(["apply", own_copy(tmp_path), "--yes"]) == 0
    assert len(validated) == 1 and len(rendered) == 1
    assert applied == rendered and applied[0] is rendered[0]
