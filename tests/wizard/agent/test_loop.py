"""The agent's round (wizard.agent.loop), fed by hand: the cluster's word, the checks and a
balancer that records what it was given."""

from __future__ import annotations

from dataclasses import dataclass, field

from wizard.agent.check import CheckResult
from wizard.agent.loop import Agent, BalancerError
from wizard.agent.metrics import parse
from wizard.agent.roster import Member, Roster, State
from wizard.agent.settle import Settle

M1, M2, M3, M4 = (Member(f"10.77.0.1{i}", 6443) for i in range(1, 5))


@dataclass
class Recorder:
    refuse: bool = False
    taken: list[Roster] = field(default_factory=list)

    def apply(self, roster: Roster) -> None:
        if self.refuse:
            raise BalancerError("nginx -t: refused")
        self.taken.append(roster)

    def up(self) -> bool:
        return True

    def connections(self) -> dict[Member, int]:
        return {M1: 2}


def agent(down: set[Member] | None = None, balancer: Recorder | None = None) -> Agent:
    silent = down if down is not None else set()

    def checker(member: Member) -> CheckResult:
        return CheckResult(member not in silent, 0 if member in silent else 200, 0.01)

    return Agent(
        Roster.seeded([M1, M2, M3]),
        balancer or Recorder(),
        checker,
        Settle(add_after_s=1.0, remove_after_s=10.0),
        log=lambda _: None,
    )


def test_a_new_master_reaches_the_balancer_once_settled():
    a = agent()
    a.observe([M1, M2, M3, M4], now=0.0)
    a.round(0.5)
    assert a.balancer.taken == []
    a.round(1.0)
    assert a.balancer.taken[-1].active() == (M1, M2, M3, M4)


def test_a_master_leaving_the_endpoints_is_drained_then_dropped_when_silent():
    down: set[Member] = set()
    a = agent(down)
    a.observe([M1, M2], now=0.0)
    a.round(10.0)
    assert a.roster.state_of(M3) is State.DRAINING
    down.add(M3)
    a.round(11.0)
    assert a.roster.state_of(M3) is None
    assert a.roster.active() == (M1, M2)


def test_a_master_shutting_down_is_drained_while_it_answers_500_not_cut():
    """An apiserver stopping gracefully leaves the Endpoints and answers /readyz 500 while it
    serves its shutdown delay: drained (its open connections stay, requests in flight among
    them), out of the list only once it answers nothing (its listener closed)."""
    status = {M3: 200}

    def checker(member: Member) -> CheckResult:
        code = status.get(member, 200)
        return CheckResult(code == 200, code, 0.01)

    a = Agent(
        Roster.seeded([M1, M2, M3]),
        Recorder(),
        checker,
        Settle(add_after_s=1.0, remove_after_s=1.0),
        log=lambda _: None,
    )
    status[M3] = 500  # SIGTERM: not ready, still serving
    a.observe([M1, M2], now=0.0)
    a.round(1.0)
    assert a.roster.state_of(M3) is State.DRAINING
    a.round(2.0)
    assert a.roster.state_of(M3) is State.DRAINING
    status[M3] = 0  # the listener closed
    a.round(3.0)
    assert a.roster.state_of(M3) is None


def test_a_refused_list_keeps_the_last_good_one_and_is_tried_again():
    balancer = Recorder(refuse=True)
    a = agent(balancer=balancer)
    a.observe([M1, M2, M3, M4], now=0.0)
    a.round(1.0)
    assert a.roster.active() == (M1, M2, M3) and a.apply_failures == 1
    balancer.refuse = False
    a.round(2.0)
    assert a.roster.active() == (M1, M2, M3, M4)


def test_every_master_failing_its_check_takes_none_out():
    a = agent(down={M1, M2, M3})
    a.observe([M1, M2, M3], now=0.0)
    for now in (1.0, 20.0, 40.0):
        a.round(now)
    assert a.roster.active() == (M1, M2, M3)
    assert a.balancer.taken == []


def test_no_word_from_the_cluster_changes_nothing():
    a = agent(down={M3})
    a.round(100.0)
    assert a.roster.active() == (M1, M2, M3)


def test_the_scrape_shows_each_master_and_the_generation():
    a = agent(down={M2})
    a.observe([M1, M2, M3, M4], now=0.0)
    a.round(1.0)
    found = parse(a.scrape())
    assert found["kubeha_list_generation"][""] == 2
    assert found["kubeha_master_up"]['master="10.77.0.12:6443"'] == 0
    assert found["kubeha_master_check_failures_total"]['master="10.77.0.12:6443"'] == 1
    assert found["kubeha_master_connections"]['master="10.77.0.11:6443"'] == 2


def test_a_master_going_down_stamps_the_last_failover():
    down: set[Member] = set()
    a = agent(down)
    a.wall_clock = lambda: 1234.5
    a.round(1.0)
    assert a.figures.figures(M2).changed_at == 0.0  # the first check is no change
    down.add(M2)
    a.round(2.0)
    found = parse(a.scrape())
    assert found["kubeha_master_changed_timestamp_seconds"]['master="10.77.0.12:6443"'] == 1234.5


def test_the_rebalancer_is_given_only_active_masters_that_answer():
    given = []
    a = agent(down={M3})

    def rebalancer(up):
        given.append(up)
        return 2

    a.rebalancer = rebalancer
    a.round(1.0)
    assert given == [(M1, M2)]
    assert parse(a.scrape())["kubeha_rebalance_closed_total"][""] == 2


@dataclass
class Vanishing(Recorder):
    """A balancer that answers ``up`` and is gone when its connections are asked (haproxy
    stopped between the two: an uninstall, a restart)."""

    asked: int = 0

    def connections(self) -> dict[Member, int]:
        self.asked += 1
        raise BalancerError("haproxy admin socket /run/kube-haproxy/admin.sock: [Errno 2]")


def test_a_balancer_gone_while_asked_is_published_down_and_the_agent_goes_on():
    lines: list[str] = []
    balancer = Vanishing()
    a = Agent(
        Roster.seeded([M1, M2, M3]),
        balancer,
        lambda m: CheckResult(True, 200, 0.01),
        log=lines.append,
    )
    a.figures.figures(M1).connections = 3
    for now in (0.0, 1.0, 2.0):
        a.round(now)  # no exception ends the round
    found = parse(a.scrape())
    assert found["kubeha_balancer_up"][""] == 0
    assert found["kubeha_master_connections"]['master="10.77.0.11:6443"'] == 3  # the last count
    assert balancer.asked == 3 and len(lines) == 1  # said once while it lasts
    assert "admin.sock" in lines[0]
