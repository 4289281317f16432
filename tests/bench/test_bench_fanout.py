"""The fan-out bench's arithmetic: the CPU line through the runs and its projection."""

from __future__ import annotations

import pytest

from bench.fanout_cost import Cost, fit, project, table


def cost(nodes: int, cpu: float, wall: float) -> Cost:
    return Cost(nodes=nodes, ok=True, wall_s=wall, cpu_s=cpu, peak_rss_mb=80.0)


def test_fit_finds_the_fixed_cost_and_the_cost_per_node():
    fixed, per = fit([(5, 1.0 + 5 * 0.2), (20, 1.0 + 20 * 0.2), (60, 1.0 + 60 * 0.2)])
    assert fixed == pytest.approx(1.0) and per == pytest.approx(0.2)


def test_fit_needs_two_node_counts():
    with pytest.raises(ValueError):
        fit([(5, 1.0), (5, 1.2)])


def test_projection_is_bound_by_whichever_is_longer():
    costs = [cost(5, 2.0, 4.0), cost(20, 5.0, 8.0), cost(60, 13.0, 20.0)]  # 1 s + 0.2 s a node
    small, large = project(costs, concurrency=32, counts=(64, 5000))
    assert small.cpu_s == pytest.approx(13.8) and small.bound_by == "controller CPU"
    assert large.cpu_s == pytest.approx(1001.0)
    # 5000 nodes: 157 rounds of 32 at 4 s each (628 s) against 1001 s of CPU on one core.
    assert large.wall_s == pytest.approx(1001.0) and large.bound_by == "controller CPU"
    slow_nodes = [cost(5, 2.0, 30.0), cost(20, 5.0, 40.0)]
    (p,) = project(slow_nodes, concurrency=32, counts=(500,))
    assert p.bound_by == "node latency" and p.wall_s == pytest.approx(16 * 30.0)


def test_table_shows_every_count_and_the_projection():
    text = table([cost(5, 2.0, 4.0), cost(5, 2.2, 4.4), cost(20, 5.0, 8.0)], concurrency=32)
    assert "| 5 | 2 | 2.10 s (2.00-2.20)" in text and "| 20 | 1 |" in text
    assert "| 500 |" in text and "| 5000 |" in text
