"""The wizard end to end, as a new user drives it: the real `kubeha` command in tmux (send-keys,
capture-pane), from the first screen to a verified deploy on the lab, then the saved profile."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.labkit import lab_profile, uninstall
from wizard.lab.profiles import write_profiles
from wizard.profile_io import load_profile

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]

SESSION = "kubeha-e2e"
KUBEHA = str(Path(sys.executable).with_name("kubeha"))


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20).stdout


def screen() -> str:
    return tmux("capture-pane", "-t", SESSION, "-p")


def wait_for(text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen()}")


@pytest.fixture
def terminal(lab, tmp_path):
    config, state = tmp_path / "config", tmp_path / "state"
    write_profiles(lab.state, config / "profiles")
    for other in ("lab-haproxy-keepalived.toml", "lab-ipvs.toml"):
        (config / "profiles" / other).unlink()
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    env = f"KUBEHA_CONFIG_DIR={config} KUBEHA_STATE_DIR={state} TERM=xterm-256color"
    tmux("kill-session", "-t", SESSION)
    tmux(
        "new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", f"env {env} {KUBEHA}; sleep 5"
    )
    try:
        yield config
    finally:
        tmux("kill-session", "-t", SESSION)
        uninstall(lab_profile(lab, "local-nginx"))


def test_from_first_screen_to_a_verified_deploy(terminal):
    wait_for("+ New profile", timeout=20)
    assert "lab-local-nginx" in screen()
    tmux("send-keys", "-t", SESSION, "Down", "Enter")  # the profile `kubeha lab up` saved
    wait_for("Nodes and files")
    assert "/etc/kube-nginx/kube-nginx.conf" in screen()
    tmux("send-keys", "-t", SESSION, "s")
    wait_for("Saved lab-local-nginx.toml")
    tmux("send-keys", "-t", SESSION, "C-n")
    shown = wait_for("Finished: 5 of 5 node(s) ok", timeout=90)
    assert shown.count("verified") >= 5
    tmux("send-keys", "-t", SESSION, "C-n")
    wait_for("Every node ok (5)")
    tmux("send-keys", "-t", SESSION, "q")
    saved = load_profile(terminal / "profiles" / "lab-local-nginx.toml")
    assert saved.strategy == "local-nginx" and [m.name for m in saved.masters] == ["m1", "m2", "m3"]
    assert "password" not in (terminal / "profiles" / "lab-local-nginx.toml").read_text().lower()
    assert os.path.exists(terminal.parent / "state" / "runs" / "lab-local-nginx")
