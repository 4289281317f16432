"""The agent's haproxy hands (wizard.agent.haproxy) on a real haproxy running the config kubeha
renders for local-haproxy (one master, 127.0.0.11: a profile refuses several on loopback; its
paths moved to a temporary folder, no user switch) and for haproxy-keepalived's load-balancer
nodes with the agent, masters being
TLS servers on loopback addresses: a master added at runtime is checked and carries new
connections, a drained one keeps its open connection and gets no new one, a removed one is gone;
haproxy is never reloaded."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support.deadlines import on_loaded_host
from tests.support.examples import changed, example_profile
from tests.wizard.agent.conftest import MASTERS, ask, connect, free_port, reached, wait_for
from wizard.agent.haproxy import HaproxyRuntime
from wizard.agent.roster import Member, Roster, drop_silent_drainers, next_roster
from wizard.strategies import haproxy_keepalived, node_agent


def rendered_config(tmp: Path, apiserver_port: int, listen_port: int, agent: bool = False) -> str:
    masters = "\n".join(
        f'[[masters]]\nname = "m{i}"\naddress = "{a}"\napiserver_port = {apiserver_port}\n'
        for i, a in enumerate(MASTERS[:1], start=1)
    )
    profile = tmp / "p.toml"
    profile.write_text(
        'schema_version = 1\nname = "agent-test"\nstrategy = "local-haproxy"\n'
        f'{masters}\n[local_haproxy]\nlisten_address = "127.0.0.1"\nlisten_port = {listen_port}\n'
        "\n[health_check]\ninterval = 0.2\ntimeout = 1.0\nfall = 2\nrise = 1\n"
        + ("\n[agent]\nenabled = true\n" if agent else "")
    )
    out = tmp / "rendered"
    subprocess.run(
        [sys.executable, "-m", "wizard", "render", str(profile), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = next(out.rglob("haproxy.cfg")).read_text()
    text = re.sub(r"^\s*(user|group|log /dev/log).*$", "", text, flags=re.M)
    return text.replace("/run/kube-haproxy/", f"{tmp}/")


def rendered_keepalived_config(tmp: Path, apiserver_port: int, listen_port: int) -> tuple:
    """haproxy-keepalived's haproxy.cfg with the agent (its carriers' config; one master on
    loopback, which validation refuses, so the strategy's plan is asked directly), bound to
    loopback, and the server options its agent.json gives the agent."""
    profile = changed(example_profile("haproxy-keepalived"), "agent", enabled=True, discovery=False)
    profile = dataclasses.replace(
        profile,
        masters=(
            dataclasses.replace(
                profile.masters[0], address=MASTERS[0], apiserver_port=apiserver_port
            ),
        ),
        health_check=dataclasses.replace(profile.health_check, interval=0.2, rise=1),
    )
    profile = changed(profile, "haproxy_keepalived", frontend_port=listen_port)
    files = {f.path: f for f in haproxy_keepalived.plan(profile).nodes[0].files}
    text = files[haproxy_keepalived.HAPROXY_CFG].content
    text = re.sub(r"^\s*log /dev/log.*$", "", text, flags=re.M)
    text = text.replace(f"bind *:{listen_port}", f"bind 127.0.0.1:{listen_port}")
    text = text.replace(haproxy_keepalived.ADMIN_SOCKET, f"{tmp}/admin.sock")
    hands = json.loads(files[node_agent.CONFIG_PATH].content)["haproxy"]
    return text, hands["server_params"], hands["backup_params"]


@pytest.fixture(params=["no-spares"])
def haproxy(request, tmp_path, masters):
    listen = free_port()
    config = tmp_path / "haproxy.cfg"
    if request.param == "haproxy-keepalived":
        text, server_params, backup_params = rendered_keepalived_config(tmp_path, masters, listen)
    else:
        text = rendered_config(tmp_path, masters, listen, agent=request.param == "spares")
        server_params = re.search(r"server m1 \S+ (.*)", text).group(1).strip()
        backup_params = re.search(r"server m1-unchecked \S+ (.*)", text).group(1).strip()
    config.write_text(text)
    check = subprocess.run(["haproxy", "-c", "-f", config], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    process = subprocess.Popen(
        ["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    runtime = HaproxyRuntime(
        str(tmp_path / "admin.sock"), server_params=server_params, backup_params=backup_params
    )
    deadline = time.monotonic() + on_loaded_host(10)
    while not runtime.up():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    yield runtime, listen, process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_added_drained_and_removed_at_runtime_without_a_reload(haproxy, masters):
    runtime, listen, process = haproxy
    seed = Roster.seeded([Member(MASTERS[0], masters)])
    runtime.apply(seed)  # the config's own servers: nothing to do
    assert {s.name for s in runtime.servers()} == {"m1", "m1-unchecked"}

    m1, m4 = Member(MASTERS[0], masters), Member(MASTERS[3], masters)
    added = next_roster(seed, [Member(a, masters) for a in MASTERS], lambda _: True)
    runtime.apply(added)
    names = {s.name for s in runtime.servers()}
    assert "kubeha-127-0-0-14-" + str(masters) in names, names
    # haproxy 2.6 takes no tcp-ut on a runtime server: added without it, and said
    assert "tcp-ut" in runtime.dropped
    wait_for(lambda: MASTERS[3] in reached(listen, 8), 10, "m4 never carried a connection")

    held = connect(listen)
    # a kept-alive connection pinned to m1, then m1 drained
    for _ in range(40):
        held.close()
        held = connect(listen)
        if ask(held) == MASTERS[0]:
            break
    assert ask(held) == MASTERS[0]
    drained = next_roster(added, [Member(a, masters) for a in MASTERS[1:]], lambda _: True)
    runtime.apply(drained)
    assert ask(held) == MASTERS[0], "the drained master's open connection was closed"
    assert MASTERS[0] not in reached(listen, 12)
    held.close()

    removed = next_roster(drained, [Member(a, masters) for a in MASTERS[1:]], lambda m: m != m1)
    removed = drop_silent_drainers(removed, lambda m: m != m1)
    runtime.apply(removed)
    assert m1 not in {s.member for s in runtime.servers()}
    assert m4 in {s.member for s in runtime.servers()}
    assert process.poll() is None
    runtime.apply(removed)  # the same list again: nothing to do, nothing refused


@pytest.mark.parametrize("haproxy", ["spares", "haproxy-keepalived"], indirect=True)
def test_with_the_agent_a_new_master_takes_a_spare_slot_with_every_option(haproxy, masters):
    """The config kubeha renders with ``[agent] enabled`` has a spare slot per master: a master
    the list adds takes one (its address set at runtime, tcp-ut and all kept: nothing dropped,
    nothing added), carries connections, and frees the slot again when it leaves. The same
    with haproxy-keepalived's config on its load-balancer nodes (a ``default-server`` line)."""
    runtime, listen, process = haproxy
    seed = Roster.seeded([Member(MASTERS[0], masters)])
    runtime.apply(seed)
    spares = {s.name for s in runtime.servers() if s.free}
    assert spares == {"kubeha-spare1", "kubeha-spare1-unchecked"}, spares
    assert set(runtime.connections()) == {Member(MASTERS[0], masters)}  # no 0.0.0.0 "master"

    m4 = Member(MASTERS[3], masters)
    added = next_roster(seed, [Member(MASTERS[0], masters), m4], lambda _: True)
    runtime.apply(added)
    by_name = {s.name: s for s in runtime.servers()}
    assert by_name["kubeha-spare1"].member == m4
    assert by_name["kubeha-spare1-unchecked"].member == m4
    assert not runtime.dropped and not any(n.startswith("kubeha-127") for n in by_name)
    wait_for(lambda: MASTERS[3] in reached(listen, 8), 10, "m4 never carried a connection")

    gone = next_roster(added, [Member(MASTERS[0], masters)], lambda m: m != m4)
    gone = drop_silent_drainers(gone, lambda m: m != m4)
    runtime.apply(gone)
    assert {s.name for s in runtime.servers() if s.free} == spares
    assert MASTERS[3] not in reached(listen, 8)
    assert process.poll() is None


def test_a_removed_master_with_an_open_connection_is_deleted_once_haproxy_has_shut_it(
    haproxy, masters
):
    """haproxy shuts a server's sessions asynchronously: ``del server`` right after ``shutdown
    sessions`` can answer that the server still has connections (CI saw it). The removal waits
    for haproxy to close them: the master is gone, its connection closed, no error."""
    runtime, listen, process = haproxy
    m1 = Member(MASTERS[0], masters)
    added = next_roster(
        Roster.seeded([m1]), [Member(a, masters) for a in MASTERS[:2]], lambda _: True
    )
    runtime.apply(added)
    wait_for(lambda: MASTERS[1] in reached(listen, 8), 10, "m2 never carried a connection")
    held = []
    for _ in range(40):
        conn = connect(listen)
        (held if ask(conn) == MASTERS[0] else [conn]).append(conn)
        if len(held) == 3:
            break
        if conn not in held:
            conn.close()
    assert held, "no connection reached m1"
    drained = next_roster(added, [Member(MASTERS[1], masters)], lambda _: True)
    gone = drop_silent_drainers(drained, lambda m: m != m1)
    closing = held.pop()  # one closed by its client just before: haproxy is still closing it
    closing.close()
    runtime.apply(gone)
    assert m1 not in {s.member for s in runtime.servers()}
    for conn in held:
        conn.sock.settimeout(on_loaded_host(10))
        try:
            closed = conn.sock.recv(1) == b""
        except (ssl.SSLError, ConnectionResetError):
            closed = True
        assert closed, "the removed master's connection stayed open"
        conn.close()
    assert process.poll() is None


class HeldServer(HaproxyRuntime):
    """An admin socket whose ``del server`` answers that connections are still attached the
    first ``held`` times it is asked (haproxy has not closed the shut sessions yet)."""

    held = 0
    asked: ClassVar[list[str]] = []

    def command(self, line: str) -> str:
        HeldServer.asked.append(line)
        if line.startswith("del server"):
            if sum(a.startswith("del server") for a in HeldServer.asked) <= HeldServer.held:
                return "Server still has connections attached to it, cannot remove it.\n"
            return "Server deleted.\n"
        return ""


@pytest.mark.parametrize("held", [3, 10**6])
def test_del_server_is_asked_again_until_haproxy_lets_go_and_at_most_the_timeout(held):
    """Deleted once the sessions are closed (asked again, no error); a server still held at the
    timeout stays in maintenance, shut, and is an error for the journal (the next round tries
    again), within the timeout."""
    from wizard.agent.loop import BalancerError

    HeldServer.held, HeldServer.asked = held, []
    runtime = HeldServer("/nonexistent.sock", timeout_s=0.5)
    started = time.monotonic()
    if held == 3:
        runtime._remove("m1")
        assert sum(a.startswith("del server") for a in HeldServer.asked) == 4
    else:
        with pytest.raises(BalancerError, match="still has connections"):
            runtime._remove("m1")
        assert time.monotonic() - started < on_loaded_host(5)
    assert HeldServer.asked[:2] == [
        "set server kube-apiserver/m1 state maint",
        "shutdown sessions server kube-apiserver/m1",
    ]
