"""A run connects to each node once: the auth preflight's connection is the node's job's
(bench.fanout_cost measured the preflight's second SSH handshake as the largest cost a node
adds to the controller). Counted on in-memory nodes: no network, no lab."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from wizard.engine import auth_preflight
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions
from wizard.engine.shared_connections import SharedConnections
from wizard.render import build_plan


class Counting:
    """A connector that counts the connections it opens, per node."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.opened: Counter[str] = Counter()

    def __call__(self, name: str) -> Callable[[], Any]:
        opener = self.cluster(name)

        def open_node() -> Any:
            self.opened[name] += 1
            return opener()

        return open_node


def test_an_apply_opens_each_node_once_with_the_preflight_on_it() -> None:
    profile = example_profile("local-nginx")
    names = [n.name for n in profile.all_nodes()]
    cluster = FakeCluster(names)
    counting = Counting(cluster)
    events: list[Any] = []
    summary = run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), events.append, connector=counting
    )
    assert summary.ok
    assert any(e.phase == "preflight" and e.status == "ok" for e in events)  # it ran
    assert counting.opened == Counter({name: 1 for name in names})  # was 2 per node
    assert cluster.open_now == 0  # every connection closed at the end


def test_a_preflight_that_stops_the_run_closes_what_it_opened() -> None:
    profile = example_profile("local-nginx")
    names = [n.name for n in profile.all_nodes()]
    cluster = FakeCluster(names)
    for node in cluster.nodes.values():  # every master refuses anonymous /readyz
        node.readyz_code = "401"
    counting = Counting(cluster)
    events: list[Any] = []
    summary = run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), events.append, connector=counting
    )
    assert not summary.ok
    stopped = [e for e in events if e.phase == "preflight" and e.status == "failed"]
    assert stopped and "auth" in stopped[0].message  # named, before any node changed
    assert all(not node.files for node in cluster.nodes.values())
    assert cluster.open_now == 0
    assert sum(counting.opened.values()) == auth_preflight.SAMPLE  # only the first nodes asked


def test_a_node_the_preflight_did_not_ask_checks_itself_before_any_change() -> None:
    profile = example_profile("local-nginx")
    names = [n.name for n in profile.all_nodes()]
    cluster = FakeCluster(names)
    last = names[-1]  # beyond the preflight's sample: it asks in its own job
    cluster.nodes[last].readyz_code = "401"
    events: list[Any] = []
    summary = run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), events.append, connector=cluster
    )
    result = {n.node: n for n in summary.nodes}
    assert not result[last].ok
    assert "every master fails the check" in result[last].reason
    assert "nothing was changed on this node" in result[last].reason
    assert not cluster.nodes[last].files  # untouched
    assert all(result[n].ok for n in names if n != last)  # the others went on


def test_lease_keeps_at_most_the_limit_and_a_dropped_connection_is_opened_anew() -> None:
    cluster = FakeCluster(["m1", "m2", "w1"])
    counting = Counting(cluster)
    shared = SharedConnections(counting, limit=2)
    with shared.lease("m1") as first:
        pass
    with shared.lease("m1") as again:
        assert again is first  # kept for its job: one connection per node
    with shared.lease("m2"):
        pass
    with shared.lease("w1"):
        pass
    assert cluster.nodes["w1"].closed  # beyond the limit: closed, not kept
    assert cluster.open_now == 2
    shared("m2")()  # m2's job takes the kept one
    assert counting.opened["m2"] == 1 and shared.reused == 1
    first.transport.connection = type("Dropped", (), {"is_connected": False})()
    shared("m1")()  # the dropped one is closed and a new one opened
    assert counting.opened["m1"] == 2 and shared.reused == 1
    shared.close()
