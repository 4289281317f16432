"""Issue 12: input that is not a profile, or a profile built to hurt, gives one clear message and a
non-zero exit from the real ``kubeha`` command: no traceback, no hang, no raw control character."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wizard.engine.runstate import RunState
from wizard.errors import KubehaError
from wizard.paths import state_dir


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args],
        capture_output=True,
        text=True,
        timeout=60,  # a hang fails the test instead of eating the suite
        env={**os.environ, **(env or {})},
    )


def assert_clean(result: subprocess.CompletedProcess[str], code: int, *texts: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr, result.stderr
    assert "\x1b" not in result.stderr + result.stdout
    for text in texts:
        assert text in result.stderr, result.stderr


def test_fifo(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    assert_clean(run("validate", str(fifo)), 2, "is a named pipe (FIFO)", "expected a profile")


def test_dev_zero():
    assert_clean(run("validate", "/dev/zero"), 2, "/dev/zero: is a character device")


def test_huge_file(tmp_path):
    path = tmp_path / "big.toml"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB that costs no disk
    assert_clean(run("validate", str(path)), 2, "larger than 1024 KiB")


@pytest.mark.parametrize(
    "text",
    ["x = " + "[" * 50_000 + "]" * 50_000, "x = " + "{a=" * 50_000 + "1" + "}" * 50_000],
    ids=["arrays", "inline-tables"],
)
def test_deep_nesting(tmp_path, text):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    assert_clean(run("validate", str(path)), 2, "nested too deeply")  # unparseable: 2
    assert_clean(run("render", str(path), "--out", str(tmp_path / "out")), 2, "nested too deeply")


def test_escape_sequences_in_keys_are_not_printed_raw(write_toml):
    path = write_toml(
        'name = "p"\nstrategy = "local-nginx"\n"\\u001b[2J\\u001b]0;pwned\\u0007\\r" = 1\n'
        '[[masters]]\nname = "m1"\naddress = "10.0.0.1"\n"k\\u001b[31m" = 2\n'
    )
    assert_clean(run("validate", str(path)), 1, "\\x1b[2J\\x1b]0;pwned\\x07\\r", "k\\x1b[31m")


def test_trailing_newline_in_an_address(write_toml):
    path = write_toml(
        'name = "p"\nstrategy = "local-nginx"\n[[masters]]\nname = "m1"\n'
        'address = "192.0.2.11\\n"\n'
    )
    assert_clean(run("validate", str(path)), 1, "masters[0].address: '192.0.2.11\\n': expected")


def test_state_folder_that_is_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "state"
    blocker.write_text("")
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(blocker))
    with pytest.raises(KubehaError, match=r"KUBEHA_STATE_DIR=.*state: is a file, not a folder"):
        state_dir()
    with pytest.raises(KubehaError, match="is a file, not a folder"):
        RunState("p", "20260101-000000-00001", ["m1"], True)
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(blocker / "below"))
    with pytest.raises(KubehaError, match=r"is under .*state, which is a file"):
        state_dir()
    monkeypatch.setenv("KUBEHA_STATE_DIR", str(tmp_path / "fresh" / "state"))
    assert state_dir() == tmp_path / "fresh" / "state"
