"""Shared fixtures: isolated kubeha folders for every test, example profiles (tests/support/
examples.py), and the lab (tests/support/lab_fixture.py); the modules on the kubeadm lab run
one after the other (tests/support/kubeadm_fixture.py: one bring-up serves them all), and so
do the real control plane's and the dual-stack lab's (tests/support/lab_shapes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.examples import EXAMPLES, example_profile
from tests.support.kubeadm_fixture import group_kubeadm_modules

# The session-wide lab fixture is defined here and only here: a second definition in a deeper
# conftest would be a second session fixture, waiting forever on the first one's lock.
from tests.support.lab_fixture import lab  # noqa: F401
from tests.support.lab_shapes import group_lab_kinds
from tests.support.module_times import record, summary
from wizard.profile import Profile


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    group_kubeadm_modules(items)
    group_lab_kinds(items)  # the real control plane's modules together, the dual-stack lab's too


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary(terminalreporter)


@pytest.fixture(autouse=True)
def _isolated_kubeha_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real ~/.config/kubeha or ~/.local/state/kubeha."""
    base = tmp_path_factory.mktemp("kubeha-home")
    monkeypatch.setenv("KUBEHA_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(base / "state"))


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> Profile:
    return example_profile(request.param)


@pytest.fixture
def write_toml(tmp_path: Path):
    def write(text: str, name: str = "profile.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
