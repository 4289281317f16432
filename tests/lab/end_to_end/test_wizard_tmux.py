"""The wizard end to end, as a new operator drives it: the real `kubeha` command in tmux
(send-keys, capture-pane) on the lab. A new profile, the strategy chosen with Enter (Tab alone
chooses nothing), the lab's nodes typed in, the load balancer and SSH steps (the nodes by their
lab addresses, reached through the lab's bastion), Clients (left off), Preview, the deploy
dialog (Cancel is the default), the deploy, the summary with its verify, and the saved
profile."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.labkit import lab_profile, uninstall
from wizard.lab.constants import SSH_KEY_FILE
from wizard.profile_io import load_profile
from wizard.strategies import registry

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]

SESSION = "kubeha-e2e"
KUBEHA = str(Path(sys.executable).with_name("kubeha"))
WIDTH, HEIGHT = 100, 30
NAME = "e2e-wizard"
CHOSEN = "● chosen"
CARD_ENDS = ("╯", "┛")  # a card's bottom-right corner: plain, and the chosen card's heavy one


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20).stdout


def keys(*names: str) -> None:
    """Keys by tmux name (Enter, Tab, BTab, C-n), one at a time as a person presses them (an
    escape sequence sent hard on another's heels can be read as one unknown sequence)."""
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(0.15)


def type_text(text: str) -> None:
    """Text typed literally, as a person types it."""
    tmux("send-keys", "-t", SESSION, "-l", text)
    time.sleep(0.15)


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


def wait_gone(text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen()
        if text not in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never went away; the screen shows:\n{screen()}")


def chosen_card(timeout: float = 10) -> int:
    """Which strategy card (1 to the registry's count, left to right) shows the chosen mark."""
    shown = wait_for(CHOSEN, timeout)
    line = next(line for line in shown.splitlines() if CHOSEN in line)
    # The mark sits on its card's bottom border: the cards closed before it say which it is.
    before = line[: line.index(CHOSEN)]
    card = sum(before.count(corner) for corner in CARD_ENDS) + 1
    assert 1 <= card <= len(registry.names()), shown
    return card


def settle() -> None:
    time.sleep(0.5)  # let the wizard take a key before the next is judged


@pytest.fixture(scope="module")
def bastion(lab):
    """The lab's jump host for this module: the wizard reaches the nodes only through it."""
    from wizard.lab import bastion as lab_bastion

    jump = lab_bastion.start(log=lambda line: print(f"[lab] {line}"))
    try:
        yield jump
    finally:
        lab_bastion.stop()


@pytest.fixture
def terminal(lab, bastion, tmp_path):
    from wizard.lab import bastion as lab_bastion

    config, state, home = tmp_path / "config", tmp_path / "state", tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)  # no ~/.ssh of the machine takes part
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(lab_bastion.known_hosts_text(lab.state, bastion))
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    env = (
        f"env -u SSH_AUTH_SOCK HOME={home} KUBEHA_CONFIG_DIR={config} KUBEHA_STATE_DIR={state} "
        "TERM=xterm-256color"
    )
    tmux("kill-session", "-t", SESSION)
    tmux(
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        str(WIDTH),
        "-y",
        str(HEIGHT),
        f"{env} {KUBEHA}; sleep 5",
    )
    try:
        yield config, known_hosts
    finally:
        tmux("kill-session", "-t", SESSION)
        uninstall(lab_profile(lab, "local-nginx"))


def test_new_profile_to_a_verified_deploy_on_the_lab(lab, bastion, terminal):
    config, known_hosts = terminal
    masters = [n for n in lab.state.nodes if n.role == "master"]
    workers = [n for n in lab.state.nodes if n.role == "worker"]

    wait_for("+ New profile", timeout=20)
    keys("n")  # a new profile
    wait_for("Profile name")

    # Strategy: the name, then the strategy chosen with Enter; focus alone chooses nothing.
    assert chosen_card() == 1  # local nginx, the default
    keys("BTab", "End", "C-u")
    type_text(NAME)
    keys("Tab", "Tab", "Tab")  # across haproxy to IPVS: highlighted, not chosen
    settle()
    assert chosen_card() == 1
    keys("Enter")  # IPVS chosen
    settle()
    assert chosen_card() == 3
    keys("BTab", "BTab", "Enter")  # back to local nginx, chosen with Enter
    settle()
    assert chosen_card() == 1
    keys("Tab")  # focus on haproxy, then on: the choice stays
    settle()
    keys("C-n")

    # Nodes: the lab's masters and workers by their lab addresses.
    wait_for("Masters")
    for index, node in enumerate(masters):
        if index:
            keys("Enter")
        type_text(f"{node.name} {node.address}")
    keys("Tab")
    for index, node in enumerate(workers):
        if index:
            keys("Enter")
        type_text(f"{node.name} {node.address}")
    settle()
    keys("C-n")

    # Load balancer: local nginx's own section, its defaults kept.
    wait_for("Local nginx (on every node)")
    keys("C-n")

    # SSH: root with the lab's key, through the bastion, the lab's host keys.
    wait_for("Reaching the nodes")
    type_text("root")
    keys("Tab")
    type_text(str(SSH_KEY_FILE))
    keys("Tab", "Tab")  # the port stays empty: 22
    type_text(bastion.spec("root"))
    keys("Tab", "Tab")  # sudo stays off: root
    type_text(str(known_hosts))
    settle()
    keys("C-n")

    # Clients: repointing stays off (the lab's kubeconfigs are left as they are).
    wait_for("Repoint clients")
    keys("C-n")

    # Preview, saved, then the deploy dialog: Enter alone cancels.
    wait_for("Nodes and files")
    wait_for("/etc/kube-nginx/kube-nginx.conf")  # the file list fills in just after the title
    keys("s")
    wait_for("Saved to")
    keys("C-n")
    shown = wait_for(f"Deploy {NAME}?")
    assert "5 nodes" in shown and "local-nginx" in shown
    assert all(n.name in shown for n in [*masters, *workers])
    keys("Enter")  # Cancel has the focus
    shown = wait_gone(f"Deploy {NAME}?")
    assert "Nodes and files" in shown and "Deploying" not in shown
    keys("C-n")
    wait_for(f"Deploy {NAME}?")
    keys("Tab", "Enter")  # to the Deploy button, pressed

    shown = wait_for("Finished: 5 of 5 node(s) ok", timeout=180)
    keys("C-n")
    wait_for("Every node ok (5)")
    wait_for("Verify:", timeout=90)  # /readyz through every node's proxy, via the bastion
    keys("q")  # saved before the deploy: quits without asking
    wait_gone("Every node ok (5)", timeout=20)

    path = config / "profiles" / f"{NAME}.toml"
    saved = load_profile(path)
    assert saved.name == NAME and saved.strategy == "local-nginx"
    assert [(m.name, m.address) for m in saved.masters] == [(m.name, m.address) for m in masters]
    assert [(w.name, w.address) for w in saved.workers] == [(w.name, w.address) for w in workers]
    assert saved.ssh.user == "root" and saved.ssh.bastion == bastion.spec("root")
    assert "password" not in path.read_text().lower()
    assert (config.parent / "state" / "runs" / NAME).exists()
