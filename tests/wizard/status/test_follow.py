"""``kubeha status --json --follow``: the first read whole, then one line per change as it
happens (wizard.status.changes, wizard.status.follow): a master added and another drained then
removed, as a replacement goes; a node that stops answering and comes back; nothing printed for
what moves all the time (connections, check times). The command end to end on a real agent
endpoint on loopback whose answer changes while it follows."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading

from wizard.agent.metrics import NodeFigures, render
from wizard.agent.roster import Member, Roster, next_roster
from wizard.agent.server import Published, make_server
from wizard.status.changes import Change, changes
from wizard.status.fleet import MasterView, NodeStatus
from wizard.status.follow import follow

M1, M3, M4 = "10.77.0.11:6443", "10.77.0.13:6443", "10.77.0.14:6443"


def view(master: str, up: bool = True, draining: bool = False, connections: int = 1):
    return MasterView(master, up, connections, draining, 0, 1.0, 0.0)


def node(name: str, *masters: MasterView, generation: int = 1, error: str = "") -> NodeStatus:
    if error:
        return NodeStatus(name, error=error)
    return NodeStatus(name, "", True, generation, "endpoints", tuple(masters))


def test_a_replacement_reads_as_its_steps():
    first = [node("w1", view(M1), view(M3))]
    m4_in = [node("w1", view(M1), view(M3, connections=9), view(M4, up=False), generation=2)]
    m4_up_m3_out = [node("w1", view(M1), view(M3, draining=True), view(M4), generation=3)]
    m3_gone = [node("w1", view(M1), view(M4), generation=4)]
    assert changes(first, m4_in) == [
        Change("w1", "added", M4, "generation 2"),
        Change("w1", "down", M4),
    ]  # M3's connections moved: not a change
    assert changes(m4_in, m4_up_m3_out) == [
        Change("w1", "draining", M3),
        Change("w1", "up", M4),
    ]
    assert changes(m4_up_m3_out, m3_gone) == [Change("w1", "removed", M3, "generation 4")]
    assert changes(m3_gone, m3_gone) == []


def test_a_node_unread_then_read_and_its_balancer():
    ok = [node("w1", view(M1)), node("w2", view(M1))]
    silent = [node("w1", view(M1)), node("w2", error="timed out")]
    assert changes(ok, silent) == [Change("w2", "unread", detail="timed out")]
    assert changes(silent, silent) == []  # said once
    assert changes(silent, ok) == [Change("w2", "read")]
    down = [node("w1", view(M1)), NodeStatus("w2", "", False, 1, "seed", (view(M1),))]
    assert changes(ok, down) == [Change("w2", "balancer-down")]
    assert changes([], ok) == []  # a node first seen: the first read says all of it


def test_follow_prints_the_first_read_then_each_change_and_stops_in_time():
    reads = iter(
        [
            [node("w1", view(M1), view(M3))],
            [node("w1", view(M1), view(M3))],
            [node("w1", view(M1), view(M3), view(M4), generation=2)],
            [node("w1", view(M1), view(M4), generation=3)],
        ]
    )
    now = [0.0]
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    code = follow(
        lambda: next(reads), 1.0, 3.0, lines.append, lambda: now[0], lambda: 100 + now[0], sleep
    )
    assert code == 0 and now[0] == 3.0  # three intervals in 3 s, then done
    records = [json.loads(line) for line in lines]
    assert records[0]["kind"] == "status" and records[0]["read_at"] == 100.0
    assert [(r["kind"], r["what"], r["master"], r["at"]) for r in records[1:]] == [
        ("status-change", "added", M4, 102.0),
        ("status-change", "removed", M3, 103.0),
    ]
    assert all(r["schema_version"] == 1 and r["node"] == "w1" for r in records[1:])


def scrape(members: list[Member]) -> str:
    roster = next_roster(Roster.seeded(members), members, lambda _: True)
    return render(NodeFigures(roster, balancer_up=True))


def line_within(stream, seconds: float = 60) -> str:
    """The next line, or a failure after ``seconds`` (never a hang)."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(seconds), f"no line within {seconds} s"
    return stream.readline()


def test_the_command_follows_a_real_agent_answer_that_changes(tmp_path):
    m1, m3, m4 = Member("10.77.0.11", 6443), Member("10.77.0.13", 6443), Member("10.77.0.14", 6443)
    published = Published()
    published.publish(scrape([m1, m3]), healthy=True)
    server = make_server("127.0.0.1", 0, published)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    profile = tmp_path / "one.toml"
    profile.write_text(
        'schema_version = 1\nname = "one"\nstrategy = "local-haproxy"\n'
        '[[masters]]\nname = "m1"\naddress = "127.0.0.1"\n'
    )
    argv = [sys.executable, "-m", "wizard", "status", str(profile), "--json", "--follow",
            "--port", str(server.server_address[1]), "--interval", "0.2", "--for", "60"]  # fmt: skip
    follower = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        first = json.loads(line_within(follower.stdout))  # printed at once, not at the end
        assert first["kind"] == "status" and len(first["nodes"][0]["masters"]) == 2
        published.publish(scrape([m1, m3, m4]), healthy=True)
        change = json.loads(line_within(follower.stdout))
        assert (change["kind"], change["what"], change["master"]) == (
            "status-change",
            "added",
            "10.77.0.14:6443",
        )
    finally:
        follower.terminate()
        follower.wait(timeout=60)
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert "Traceback" not in follower.stderr.read()


def test_follow_needs_json_and_for_needs_follow(tmp_path):
    for extra, said in ((["--follow"], "add --json"), (["--json", "--for", "5"], "--follow")):
        done = subprocess.run(
            [sys.executable, "-m", "wizard", "status", str(tmp_path / "p.toml"), *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
