"""The node agent installed by ``kubeha apply`` with discovery, on the lab's real control plane
(real kube-apiservers with ``--endpoint-reconciler-type=lease``, a real token controller):

- apply makes the agent's read-only credentials through kubectl on a master and installs the
  agent on every node; each node's agent serves /healthz and /metrics, and ``kubeha status
  --json`` (over SSH: the agent listens on loopback) shows every node x every master;
- one master's apiserver killed: its lease runs out, the ``default/kubernetes`` Endpoints drop
  it, and every node's list drops it (a new generation); back when it returns;
- a master replaced with discovery on (m3 -> m4: the lab adds m4, etcd member and all,
  ``kubeha masters replace`` runs, the lab removes m3): the command opens no SSH session to a
  worker, every node's balancer takes m4 and lets m3 go by the Endpoints alone;
- an apply with the agent turned off removes it from every node, and its credentials; an
  uninstall with a profile edited so since its apply leaves no file, unit or object of it;
- haproxy-keepalived with the agent: on its masters only, each following the Endpoints
  through the VIP (a killed master leaves every carrier's list and comes back), read by
  ``kubeha status``; its uninstall leaves no trace either.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter

import pytest

from tests.lab.environment.test_real_control_plane import kubectl, real_lab, wait_for  # noqa: F401
from tests.support.labkit import apply, lab_profile, states, uninstall, with_section
from wizard.agent.metrics import parse
from wizard.cli import main
from wizard.engine.connector import SshConnector
from wizard.engine.run_phases.agent_access import RECORD
from wizard.lab import Lab
from wizard.lab import masters as lab_masters
from wizard.profile_io import parse_profile_text, save_profile
from wizard.strategies import haproxy_keepalived, node_agent

pytestmark = pytest.mark.lab

SCRAPE = (
    "import sys, urllib.request; "
    "a = urllib.request.urlopen('http://127.0.0.1:9446' + sys.argv[1], timeout=5); "
    "sys.stdout.write(str(a.status) + ' ' + a.read().decode())"
)


@pytest.fixture(scope="module")
def agent_lab(real_lab: Lab):  # noqa: F811
    """The real lab and its local-haproxy profile with the agent and discovery on (a list:
    the replacement test puts the lab's and the profile's new masters in it)."""
    wanted = with_section(
        lab_profile(real_lab, "local-haproxy"), "agent", enabled=True, discovery=True
    )
    uninstall(wanted)
    held = [real_lab, wanted]
    yield held
    uninstall(held[1])


@pytest.fixture(scope="module")
def module_started() -> str:
    """When this module's first test started, as journalctl's --since reads it (the nodes
    share the host's clock)."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


def no_agent_ended_on_an_error(lab: Lab, since: str) -> None:
    """No node's agent ended on an exception since ``since`` (installs, kills, stops and
    uninstalls of this module among them): the agent's rounds never end it."""
    for n in lab.nodes:
        journal = lab.exec_in_node(
            n.name, ["journalctl", "-u", node_agent.UNIT, "--since", since, "-o", "cat"]
        ).stdout
        assert "Traceback" not in journal, f"{n.name}'s agent:\n{journal[-3000:]}"


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


def test_apply_installs_the_agent_and_status_shows_every_node_x_master(
    agent_lab, module_started, tmp_path, capsys
):
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
    dropped_and_back(lab, profile, "m3", tmp_path, capsys)


def dropped_and_back(
    lab: Lab, profile, victim: str, tmp_path, capsys, while_gone=lambda: None
) -> None:
    """``victim``'s apiserver killed: it leaves every agent's list (a new generation) by the
    Endpoints alone (then ``while_gone()``); restored, it is back in every list and up."""
    masters = {f"{m.address}:6443" for m in lab.masters}
    gone = f"{lab.node(victim).address}:6443"
    before = lists(status(profile, tmp_path, capsys))
    started = time.monotonic()
    lab.kill_apiserver(victim)
    try:
        # the lease (15 s) runs out, a live apiserver's reconciler drops it from the Endpoints,
        # every agent drops it after its remove_after (10 s)
        # the scrape keeps counting a master that left the list (listed 0): status no longer
        # names it among the node's masters
        def dropped():
            found = lists(status(profile, tmp_path, capsys))
            return (
                all(gen > before[n][0] and gone not in seen for n, (gen, seen) in found.items())
                or found
            )

        try:
            wait_for(dropped, 120, f"{victim} dropped from every node's list", interval=2)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{why_not_dropped(lab, victim, before)}") from None
        took = time.monotonic() - started
        print(f"[agent] {victim} left every list {took:.1f} s after its kill")
        after = lists(status(profile, tmp_path, capsys))
        while_gone()
    finally:
        lab.restore(victim)
    back = time.monotonic()

    def returned():
        found = ups(status(profile, tmp_path, capsys))
        return all(gen > after[n][0] and up == masters for n, (gen, up) in found.items()) or found

    wait_for(returned, 120, f"{victim} back in every node's list", interval=2)
    print(f"[agent] {victim} back in every list {time.monotonic() - back:.1f} s after its restore")


def why_not_dropped(lab: Lab, victim: str, nodes) -> str:
    """What a failed drop needs to be read, shortest first (a CI log keeps only the head of a
    long failure): the Endpoints as a live master's apiserver has them, the master leases in
    etcd they are made from, whether the victim's apiserver runs after all, then each node's
    agent: its restarts and its journal since the kill."""
    live = next(m.name for m in lab.masters if m.name != victim)
    endpoints = kubectl(lab, live, "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets}")
    parts = [f"Endpoints on {live}: {endpoints.stdout.strip()} {endpoints.stderr.strip()[-300:]}"]
    leases = lab.exec_in_node(
        live, [*lab_masters.ETCDCTL, "get", "--prefix", "/registry/masterleases/", "-w", "fields"]
    ).stdout
    kept = [line for line in leases.splitlines() if '"Key"' in line or '"Lease"' in line]
    parts.append(f"master leases in etcd: {' '.join(kept)}")
    running = lab.exec_in_node(
        victim, ["sh", "-c", "pgrep -a kube-apiserver | cut -c1-100; ss -ltnp | grep -w 6443"]
    ).stdout
    parts.append(f"{victim}'s apiserver after its kill: {running.strip() or 'none'}")
    for node in sorted(nodes):
        journal = lab.exec_in_node(
            node,
            [
                "journalctl",
                "-u",
                node_agent.UNIT,
                "--since",
                "-150s",
                "-n",
                "12",
                "--no-pager",
                "-o",
                "cat",
            ],
        ).stdout
        restarts = lab.exec_in_node(
            node, ["systemctl", "show", "-p", "NRestarts", "--value", node_agent.UNIT]
        ).stdout.strip()
        parts.append(
            f"{node}'s agent (restarted {restarts} times) since the kill:\n{journal.strip()}"
        )
    return "\n".join(parts)


def master_views(lab: Lab, node: str) -> dict[str, tuple[bool, bool]]:
    """What a node's agent says of each master it counts: (up, draining)."""
    found = parse(scrape(lab, node, "/metrics"))

    def master(label: str) -> str:
        return label.split('"')[1]

    up = {master(k): v == 1 for k, v in found.get("kubeha_master_up", {}).items()}
    draining = {master(k): v == 1 for k, v in found.get("kubeha_master_draining", {}).items()}
    return {m: (up[m], draining.get(m, False)) for m in up}


def test_a_master_replaced_with_discovery_opens_no_ssh_to_a_worker(
    agent_lab, tmp_path, monkeypatch, capsys
):
    lab, profile = agent_lab
    m4 = lab_masters.add_master(log=print)
    lab.refresh()
    new = f"{m4.address}:6443"
    old = f"{lab.node('m3').address}:6443"
    opened: Counter[str] = Counter()
    connect = SshConnector.__call__

    def counting(self: SshConnector, name: str):
        opened[name] += 1
        return connect(self, name)

    monkeypatch.setattr(SshConnector, "__call__", counting)
    path = save_profile(profile, tmp_path / "lab.toml")
    code = main(
        ["masters", "replace", str(path), "--master", "m3", "--name", "m4",
         "--address", m4.address, "--ssh-host", m4.ssh_host, "--ssh-port", str(m4.ssh_port),
         "--timeout", "240", "--yes"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert not [n for n in opened if n.startswith("w")], opened
    assert sum(opened.values()) == 1, opened  # one master's kubectl read the Endpoints
    assert f"{new} is in the Endpoints" in out
    saved = parse_profile_text(path.read_text()).profile
    assert saved is not None and [m.name for m in saved.masters] == ["m1", "m2", "m4"]
    monkeypatch.setattr(SshConnector, "__call__", connect)
    nodes = [n.name for n in lab.nodes if n.name != "m4"]  # m4 runs no balancer: not applied

    def every_node_uses_m4():
        views = {n: master_views(lab, n) for n in nodes}
        return all(v.get(new) == (True, False) for v in views.values()) or views

    wait_for(every_node_uses_m4, 120, "m4 up on every node's balancer", interval=1)
    lab_masters.remove_master("m3", log=print)
    lab.refresh()
    left = [n for n in nodes if n != "m3"]

    def m3_gone():
        views = {n: master_views(lab, n) for n in left}
        return all(not v.get(old, (False, False))[0] for v in views.values()) or views

    wait_for(m3_gone, 120, "m3 out of every node's balancer", interval=2)
    # uninstall (the next test) runs on the nodes the profile now names that have the agent
    agent_lab[1] = dataclasses.replace(profile, masters=profile.masters[:2])


def no_trace_of_the_agent(lab: Lab, profile) -> None:
    """No file, unit, process or credential of the agent on any node or in the cluster."""
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


def test_an_apply_with_the_agent_turned_off_removes_it_and_its_credentials(agent_lab):
    lab, profile = agent_lab
    summary, recorder = apply(with_section(profile, "agent", enabled=False, discovery=False))
    assert summary.ok, recorder.text()
    assert "removed what the profile no longer has" in recorder.text()
    assert "the node agent's credentials given back" in recorder.text()
    no_trace_of_the_agent(lab, profile)
    summary, recorder = apply(profile)  # on again, for the uninstall below
    assert summary.ok, recorder.text()


def test_uninstall_with_the_agent_turned_off_since_leaves_no_trace_of_it(agent_lab):
    """The profile edited after its apply: uninstall gives back what each node's record names."""
    lab, profile = agent_lab
    summary = uninstall(with_section(profile, "agent", enabled=False, discovery=False))
    assert summary.ok, [n.message for n in summary.nodes]
    no_trace_of_the_agent(lab, profile)


def test_haproxy_keepalived_runs_the_agent_on_its_masters_and_follows_the_endpoints(
    agent_lab, module_started, tmp_path, capsys
):
    """haproxy-keepalived with the agent: on the masters (its load-balancer nodes) only, each
    agent reading the Endpoints through the VIP and keeping haproxy's servers through its runtime
    API; a worker runs none; uninstall leaves no trace."""
    lab, _ = agent_lab
    lab.refresh()
    profile = with_section(
        lab_profile(lab, "haproxy-keepalived"), "agent", enabled=True, discovery=True
    )
    carriers = {m.name for m in profile.masters}
    try:
        summary, recorder = apply(profile)
        assert summary.ok, recorder.text()
        masters = {f"{m.address}:6443" for m in lab.masters}

        def every_carrier_sees_every_master():
            found = ups(status(profile, tmp_path, capsys))
            return (set(found) == carriers and all(up == masters for _, up in found.values())) or (
                found
            )

        wait_for(every_carrier_sees_every_master, 90, "every carrier x every master up")
        # each carrier's agent read the Endpoints through the VIP (TLS against the VIP's name;
        # a read before keepalived placed the VIP may have failed)
        for node in status(profile, tmp_path, capsys)["nodes"]:
            assert node["discovery_reads"] >= 1, node
            assert node["discovery_read_at"] > time.time() - 120, node
        # the Endpoints, read through the VIP, take a killed master out of every carrier's
        # haproxy (its runtime API) and put it back
        m4 = lab.node("m4").address

        def out_of_haproxy():
            for carrier in ("m1", "m2"):
                states = haproxy_admin_states(lab, carrier)
                assert all(state & MAINT for state in states.get(m4, [MAINT])), (carrier, states)

        dropped_and_back(lab, profile, "m4", tmp_path, capsys, out_of_haproxy)

        def ready_in_haproxy():
            states = {c: haproxy_admin_states(lab, c).get(m4, []) for c in ("m1", "m2")}
            return (
                all(
                    found and not any(state & (MAINT | DRAIN) for state in found)
                    for found in states.values()
                )
                or states
            )

        wait_for(ready_in_haproxy, 60, "m4 ready again in the carriers' haproxy", interval=2)
        for worker in (n.name for n in lab.nodes if n.name not in carriers):
            found = lab.exec_in_node(worker, ["test", "-e", node_agent.PYZ_PATH])
            assert found.returncode != 0, worker
    finally:
        summary = uninstall(profile)
    assert summary.ok, [n.message for n in summary.nodes]
    no_trace_of_the_agent(lab, profile)
    no_agent_ended_on_an_error(lab, module_started)


# haproxy's server admin state bits: in maintenance (forced, inherited, resolution, hostname:
# SRV_ADMF_MAINT; a spare's "disabled" of the config, 0x04, is not), draining (forced, inherited)
MAINT = 0x01 | 0x02 | 0x20 | 0x40
DRAIN = 0x08 | 0x10
ADMIN_STATES = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
    "s.sendall(b'show servers state kube-apiserver\\n'); b = b''\n"
    "while True:\n    d = s.recv(65536)\n    if not d: break\n    b += d\n"
    "sys.stdout.write(b.decode())"
)


def haproxy_admin_states(lab: Lab, node: str) -> dict[str, list[int]]:
    """Per server address in the node's haproxy (its runtime API, as the agent reads it): the
    admin states of its server lines (bit 1: maintenance)."""
    text = lab.exec_in_node(
        node, ["python3", "-c", ADMIN_STATES, haproxy_keepalived.ADMIN_SOCKET], timeout=30
    ).stdout
    lines = text.splitlines()
    header = next((line[2:].split() for line in lines if line.startswith("# be_id")), [])
    found: dict[str, list[int]] = {}
    for line in lines:
        cells = line.split()
        if header and len(cells) == len(header) and not line.startswith("#"):
            row = dict(zip(header, cells, strict=True))
            found.setdefault(row["srv_addr"], []).append(int(row["srv_admin_state"]))
    return found
