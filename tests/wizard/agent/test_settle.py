"""The agent's debouncing (wizard.agent.settle): quick to add, slow to remove, a flapping
Endpoints object moves nothing."""

from __future__ import annotations

from wizard.agent.roster import Member
from wizard.agent.settle import Settle

M1, M2, M3, M4 = (Member(f"10.77.0.1{i}", 6443) for i in range(1, 5))


def started() -> Settle:
    settle = Settle(add_after_s=1.0, remove_after_s=10.0)
    settle.start_from([M1, M2, M3])
    return settle


def test_nothing_observed_is_no_word():
    assert Settle().settled(0.0) is None


def test_a_new_master_is_taken_once_it_stayed_named():
    settle = started()
    settle.offer([M1, M2, M3, M4], now=100.0)
    assert settle.settled(100.5) == {M1, M2, M3}
    assert settle.next_change_in(100.5) == 0.5
    assert settle.settled(101.0) == {M1, M2, M3, M4}
    assert settle.next_change_in(101.0) is None


def test_a_master_leaves_only_after_staying_unnamed():
    settle = started()
    settle.offer([M1, M2], now=100.0)
    assert settle.settled(109.0) == {M1, M2, M3}
    assert settle.settled(110.0) == {M1, M2}


def test_a_flapping_master_keeps_its_state():
    settle = started()
    now = 100.0
    for i in range(40):  # M3 in and out, M4 in and out, every 0.5 s for 20 s
        named = [M1, M2] if i % 2 else [M1, M2, M3, M4]
        settle.offer(named, now)
        assert settle.settled(now) == {M1, M2, M3}, i
        now += 0.5


def test_a_master_back_before_the_removal_settles_never_left():
    settle = started()
    settle.offer([M1, M2], now=100.0)
    settle.settled(105.0)
    settle.offer([M1, M2, M3], now=105.0)
    assert settle.settled(200.0) == {M1, M2, M3}
