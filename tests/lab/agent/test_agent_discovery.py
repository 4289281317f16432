"""The node agent installed by ``kubeha apply`` with discovery, on the lab's real control plane
(real kube-apiservers with ``--endpoint-reconciler-type=lease``, a real token controller):

- apply makes the agent's read-only credentials through kubectl on a master and installs the
  agent on every node; each node's agent serves /healthz and /metrics, and ``kubeha status
  --json`` (over SSH: the agent listens on loopback) shows every node x every master;
- one master's apiserver killed: its lease runs out, the ``default/kubernetes`` Endpoints drop
  it, and every node's list drops it (a new generation); back when it returns;
- uninstall leaves no file, unit or object of the agent.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.lab.environment.test_real_control_plane import kubectl, real_lab, wait_for  # noqa: F401
from tests.support.labkit import apply, lab_profile, states, uninstall, with_section
from wizard.cli import main
from wizard.engine.run_phases.agent_access import RECORD
from wizard.lab import Lab
from wizard.profile_io import save_profile
from wizard.strategies import node_agent

pytestmark = pytest.mark.lab

SCRAPE = (
    "import sys, urllib.request; "
    "a = urllib.request.urlopen('http://127.0.0.1:9446' + sys.argv[1], timeout=5); "
    "sys.stdout.write(str(a.status) + ' ' + a.read().decode())"
)


@pytest.fixture(scope="module")
def agent_lab(real_lab: Lab):  # noqa: F811
    """The real lab and its local-haproxy profile with the agent and discovery on."""
    wanted = with_section(
        lab_profile(real_lab, "local-haproxy"), "agent", enabled=True, discovery=True
    )
    uninstall(wanted)
    yield real_lab, wanted
    uninstall(wanted)


def scrape(lab: Lab, node: str, path: str) -> str:
    return lab.exec_in_node(node, ["python3", "-c", SCRAPE, path], timeout=30).stdout


def status(profile, tmp_path, capsys) -> dict:
    path = save_profile(profile, tmp_path / "lab.toml")
    capsys.readouterr()
    main(["status", str(path), "--json", "--timeout", "10"])
    return json.loads(capsys.readouterr().out)


def lists(document: dict) -> dict[str, tuple[int, frozenset[str]]]:
    """Per node: its list's generation and the masters it names."""
    return {
        n["node"]: (n["generation"], frozenset(m["master"] for m in n["masters"]))
        for n in document["nodes"]
    }


def ups(document: dict) -> dict[str, tuple[int, frozenset[str]]]:
    """Per node: its list's generation and the masters that pass its check."""
    return {
        n["node"]: (n["generation"], frozenset(m["master"] for m in n["masters"] if m["up"]))
        for n in document["nodes"]
    }


def test_apply_installs_the_agent_and_status_shows_every_node_x_master(agent_lab, tmp_path, capsys):
    lab, profile = agent_lab
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    assert set(states(summary).values()) == {"verified"}
    assert "present" in recorder.text() or "created" in recorder.text()
    for n in lab.nodes:
        assert scrape(lab, n.name, "/healthz").startswith("200"), n.name
        assert "kubeha_list_generation" in scrape(lab, n.name, "/metrics"), n.name
        mode = lab.exec_in_node(n.name, ["stat", "-c", "%a", node_agent.TOKEN_PATH]).stdout
        assert mode.strip() == "600", n.name
    masters = {f"{m.address}:6443" for m in lab.masters}

    def every_node_sees_every_master():
        found = lists(status(profile, tmp_path, capsys))
        return all(seen == masters for _, seen in found.values()) or found

    wait_for(every_node_sees_every_master, 60, "every node x every master in kubeha status")
    # the token is never in what the run showed
    token = lab.exec_in_node("m1", ["cat", node_agent.TOKEN_PATH]).stdout.strip()
    assert token and token not in recorder.text()


def test_a_master_the_endpoints_drop_leaves_every_list_and_comes_back(agent_lab, tmp_path, capsys):
    lab, profile = agent_lab
    masters = {f"{m.address}:6443" for m in lab.masters}
    m3 = f"{lab.node('m3').address}:6443"
    before = lists(status(profile, tmp_path, capsys))
    started = time.monotonic()
    lab.kill_apiserver("m3")
    try:
        # the lease (15 s) runs out, a live apiserver's reconciler drops m3 from the Endpoints,
        # every agent drops it after its remove_after (10 s)
        # the scrape keeps a master that left the list (its counters): the list's new
        # generation and m3 down say it left
        def dropped():
            found = ups(status(profile, tmp_path, capsys))
            return (
                all(gen > before[n][0] and m3 not in up for n, (gen, up) in found.items()) or found
            )

        try:
            wait_for(dropped, 120, "m3 dropped from every node's list", interval=2)
        except AssertionError as error:
            journal = lab.exec_in_node(
                "w1", ["journalctl", "-u", node_agent.UNIT, "-n", "40", "--no-pager"]
            ).stdout
            raise AssertionError(f"{error}\nw1's agent:\n{journal}") from None
        print(f"[agent] m3 left every list {time.monotonic() - started:.1f} s after its kill")
        after = lists(status(profile, tmp_path, capsys))
    finally:
        lab.restore("m3")
    back = time.monotonic()

    def returned():
        found = ups(status(profile, tmp_path, capsys))
        return all(gen > after[n][0] and up == masters for n, (gen, up) in found.items()) or found

    wait_for(returned, 120, "m3 back in every node's list", interval=2)
    print(f"[agent] m3 back in every list {time.monotonic() - back:.1f} s after its restore")


def test_uninstall_leaves_no_trace_of_the_agent(agent_lab):
    lab, profile = agent_lab
    summary = uninstall(profile)
    assert summary.ok, [n.message for n in summary.nodes]
    script = (
        "for f in " + " ".join(node_agent.node_paths(profile)) + "; do "
        '[ -e $f ] && echo "left $f"; done; '
        f"systemctl cat {node_agent.UNIT} >/dev/null 2>&1 && echo 'left unit'; "
        # a process whose command line starts with python3 and runs the pyz (this shell's own
        # command line names the pyz too, but starts with sh: pgrep -f matched it)
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | "
        "grep -qE '^(/usr/bin/)?python3[.0-9]* [^ ]*kubeha-agent[.]pyz' && echo \"left $p\"; "
        "done; true"
    )
    for n in lab.nodes:
        assert lab.exec_in_node(n.name, ["sh", "-c", script]).stdout == "", n.name
    for kind, namespace, name in (
        ("serviceaccount", "kube-system", "kubeha-agent"),
        ("secret", "kube-system", "kubeha-agent-token"),
        ("role", "default", "kubeha-agent"),
        ("rolebinding", "default", "kubeha-agent"),
    ):
        got = kubectl(lab, "m1", "get", kind, name, "-n", namespace)
        assert got.returncode != 0 and "NotFound" in got.stderr, (kind, got.stdout)
    for m in lab.masters:
        assert lab.exec_in_node(m.name, ["test", "-e", RECORD]).returncode != 0
