"""Reading every node's agent (wizard.status.fleet) and ``kubeha status --json``: real agent
endpoints on loopback, a node that does not answer, one that answers something else."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wizard.agent.metrics import NodeFigures, render
from wizard.agent.roster import Member, Roster, next_roster
from wizard.agent.server import Published, make_server
from wizard.status.fleet import Target, read_fleet, status_of, to_json

M1, M2, M3 = (Member(f"10.77.0.1{i}", 6443) for i in range(1, 4))


def scrape(balancer_up: bool = True, m2_up: bool = True) -> str:
    roster = next_roster(Roster.seeded([M1, M2, M3]), [M1, M2], lambda _: True)
    node = NodeFigures(roster, balancer_up=balancer_up)
    for member, up, conns in ((M1, True, 4), (M2, m2_up, 1), (M3, True, 2)):
        figures = node.figures(member)
        figures.up, figures.connections, figures.changed_at = up, conns, 0 if up else 99.0
    node.discovery_read(False, 0.0)
    node.discovery_read(True, 1_700_000_000.0)
    return render(node)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def agents():
    """Two agents on loopback (one sees m2 down), a port nobody listens on, and a server that
    is not an agent."""
    started = []
    ports = []
    for m2_up in (True, False):
        published = Published()
        published.publish(scrape(m2_up=m2_up), healthy=True)
        server = make_server("127.0.0.1", 0, published)
        started.append(server)
        ports.append(server.server_address[1])

    class Other(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    started.append(other)
    ports.append(other.server_address[1])
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}) for s in started
    ]
    for thread in threads:
        thread.start()
    yield [
        Target("w1", "127.0.0.1", ports[0]),
        Target("w2", "127.0.0.1", ports[1]),
        Target("w3", "127.0.0.1", free_port()),
        Target("w4", "127.0.0.1", ports[2]),
    ]
    for server in started:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(timeout=10)


def test_a_scrape_folds_into_each_masters_view():
    status = status_of("w1", scrape(m2_up=False))
    assert status.generation == 2 and status.source == "endpoints" and status.balancer_up
    views = {m.master: m for m in status.masters}
    assert views["10.77.0.11:6443"].up and views["10.77.0.11:6443"].connections == 4
    assert not views["10.77.0.12:6443"].up and views["10.77.0.12:6443"].changed_at == 99.0
    assert views["10.77.0.13:6443"].draining
    assert (status.discovery_reads, status.discovery_failures) == (1, 1)
    assert status.discovery_read_at == 1_700_000_000.0
    assert status.ok


def test_a_master_the_agent_still_counts_but_no_longer_lists_is_not_the_nodes():
    """After a replacement the agent keeps counting the old master (its counters go on) but
    has dropped it from the list: status shows it removed (a ``removed`` change), not down
    for ever. An agent that exports no ``listed`` series: every master it counts, as before."""
    from wizard.status.changes import changes

    node = NodeFigures(Roster.seeded([M1, M2]), balancer_up=True)
    node.figures(M3).failures_total = 4  # the old master, out of the list
    text = render(node)
    assert [m.master for m in status_of("w1", text).masters] == [
        "10.77.0.11:6443",
        "10.77.0.12:6443",
    ]
    old = status_of("w1", scrape())
    kinds = [(c.what, c.master) for c in changes([old], [status_of("w1", text)])]
    assert ("removed", "10.77.0.13:6443") in kinds
    without = "\n".join(line for line in text.splitlines() if "kubeha_master_listed" not in line)
    assert len(status_of("w1", without).masters) == 3


def test_every_node_read_in_order_and_each_failure_named(agents):
    statuses = read_fleet(agents, timeout_s=10)
    assert [s.node for s in statuses] == ["w1", "w2", "w3", "w4"]
    assert statuses[0].ok and statuses[1].ok
    assert not next(m for m in statuses[1].masters if m.master == "10.77.0.12:6443").up
    assert statuses[2].error and f":{agents[2].port}/metrics" in statuses[2].error
    assert statuses[3].error == "the answer is not a kubeha agent's /metrics"
    document = json.loads(to_json(statuses, now=5.0))
    assert document["read_at"] == 5.0 and len(document["nodes"]) == 4
    assert document["kind"] == "status" and document["schema_version"] == 1
    assert document["ok"] is False
    assert document["nodes"][0]["masters"][0]["master"] == "10.77.0.11:6443"


def test_kubeha_status_json_reads_a_one_node_profile(tmp_path, agents):
    profile = tmp_path / "one.toml"
    profile.write_text(
        'schema_version = 1\nname = "one"\nstrategy = "local-haproxy"\n'
        '[[masters]]\nname = "m1"\naddress = "127.0.0.1"\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wizard",
            "status",
            str(profile),
            "--json",
            "--port",
            str(agents[0].port),
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [n["node"] for n in document["nodes"]] == ["m1"]
    assert document["nodes"][0]["generation"] == 2

    silent = subprocess.run(
        [
            sys.executable,
            "-m",
            "wizard",
            "status",
            str(profile),
            "--json",
            "--port",
            str(agents[2].port),
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert silent.returncode == 1 and "Traceback" not in silent.stderr
    assert json.loads(silent.stdout)["nodes"][0]["error"]


@pytest.mark.parametrize("bad", [["--port", "0"], ["--interval", "x"], ["--timeout", "0"]])
def test_a_bad_option_names_itself(tmp_path, bad):
    done = subprocess.run(
        [sys.executable, "-m", "wizard", "status", str(tmp_path / "none.toml"), *bad],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and bad[0] in done.stderr and "Traceback" not in done.stderr


def test_a_node_that_hangs_past_every_timeout_does_not_hold_the_others(agents):
    """A fetch that never ends (an SSH connection to a vanished node whose forwarder accepts
    and never answers): the read ends at its deadline, that node an error, the others read."""
    import time

    from wizard.status import fleet

    release = threading.Event()

    def fetch(target: Target, timeout_s: float) -> str:
        if target.node == "w2":
            release.wait(60)  # far past the read's deadline
        return fleet.http_fetch(target, timeout_s)

    started = time.monotonic()
    try:
        found = read_fleet(agents[:2], fetch, timeout_s=0.5)
    finally:
        release.set()
    took = time.monotonic() - started
    assert took < 30, took  # the deadline is 2 x 0.5 + 5 s; 60 s if it waited on w2
    assert found[0].ok and not found[0].error
    assert found[1].node == "w2" and "no answer within 6 s" in found[1].error


def test_the_live_view_reads_the_others_at_their_pace_while_one_node_hangs(agents):
    """The live view and --follow (LiveFleet): a node whose ask hangs is not asked again and
    does not hold the next reads; its status says so, past the deadline as an error with the
    seconds; once its ask ends, it is read again."""
    import time

    from wizard.status import fleet
    from wizard.status.live import LiveFleet

    release = threading.Event()
    asked: list[str] = []

    def fetch(target: Target, timeout_s: float) -> str:
        asked.append(target.node)
        if target.node == "w2" and not release.is_set():
            release.wait(60)
        return fleet.http_fetch(target, timeout_s)

    now = [0.0]
    live = LiveFleet(agents[:2], fetch, timeout_s=0.5, clock=lambda: now[0])
    try:
        first = live.read()  # waits at most 0.5 + 1 s for w2
        assert first[0].ok and "no answer yet" in first[1].error
        started = time.monotonic()
        for _ in range(5):
            second = live.read()
        assert (
            time.monotonic() - started < 5
        )  # five reads without waiting on w2 (1.5 s each if it did)
        assert second[0].ok and asked.count("w2") == 1 and asked.count("w1") == 6
        now[0] = 7.0  # past the deadline (2 x 0.5 + 5 s)
        assert "no answer for 7 s" in live.read()[1].error
        release.set()
        for _ in range(50):
            if live.read()[1].error == "":
                break
            time.sleep(0.1)
        assert live.read()[1].generation == 2  # read again once its ask ended
    finally:
        release.set()
        live.close()


def test_the_live_view_asks_a_node_in_error_again_without_waiting_on_it(agents, monkeypatch):
    """A node that is gone (its ask fails at once, or after seconds over SSH) is asked again
    each read but not waited on: only the nodes that answered last time are."""
    from wizard.status import fleet
    from wizard.status import live as live_module
    from wizard.status.live import LiveFleet

    def fetch(target: Target, timeout_s: float) -> str:
        if target.node == "w2":
            raise OSError("connection lost")
        return fleet.http_fetch(target, timeout_s)

    waited_on: list[int] = []
    real_wait = live_module.wait

    def counting_wait(futures, timeout=None):
        waited_on.append(len(futures))
        return real_wait(futures, timeout=timeout)

    monkeypatch.setattr(live_module, "wait", counting_wait)
    live = LiveFleet(agents[:2], fetch, timeout_s=2.0)
    try:
        first = live.read()
        assert first[0].ok and "connection lost" in first[1].error
        live.read()
        live.read()
    finally:
        live.close()
    assert waited_on == [2, 1, 1]  # then w1 only: w2 asked, not waited on
