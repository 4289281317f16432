"""bench.master_replace's arithmetic: the requests, writes and watch gaps of a window."""

from __future__ import annotations

from types import SimpleNamespace

from bench.master_replace import markdown, spread, tally
from bench.real_figures import NodeRecords


def agent(node: str, **records) -> SimpleNamespace:
    return SimpleNamespace(records=NodeRecords(node, **records))


def test_tally_counts_a_window_and_the_longest_watch_gap() -> None:
    w1 = agent(
        "w1",
        ka=[(1.0, 1.1, 200), (2.0, 2.1, 0), (9.0, 9.1, 200)],
        writes=[(0, 1.0, 1.1, 200), (1, 1.5, 1.6, 500)],
        events=[(1.2, 0), (1.7, 1), (4.7, 2), (9.5, 3)],
        restarts=[(3.0, 1, "EOF")],
    )
    m1 = agent("m1", ka=[(1.5, 1.6, 200)], events=[(1.3, 0), (1.8, 1)])
    got = tally([w1, m1], 0.0, 5.0)  # type: ignore[list-item]
    assert got == {
        "requests": 3,
        "failed": 1,
        "failures": [{"t": 2.0, "node": "w1", "code": 0}],
        "retried_on_a_closed_connection": 0,
        "writes": 2,
        "writes_failed": 1,
        "watch_restarts": 1,
        "longest_watch_gap_s": {"w1": 3.0, "m1": 0.5},
    }
    assert tally([w1], 5.0)["requests"] == 1  # type: ignore[list-item]


def test_spread_is_median_min_max() -> None:
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}
    assert spread([]) == {}


def test_markdown_puts_both_modes_side_by_side() -> None:
    step = {"step": "m1 -> m4", "ssh_sessions": {"m2": 1}, "ssh_to_workers": 0}
    figs = {"median": 1.0, "min": 0.5, "max": 2.0}
    on = {
        "steps": [step],
        "ssh_to_workers": 0,
        "command": figs,
        "balancer_after_endpoint": figs,
        "seen_up_after_endpoint": figs,
        "seen_up_after_command_start": figs,
        "replacement": {
            "requests": 12000,
            "failed": 0,
            "retried_on_a_closed_connection": 3,
            "writes": 100,
            "writes_failed": 0,
            "watch_restarts": 2,
            "longest_watch_gap_s": {"w1": 1.5},
        },
        "discovery_reads": {"w1": {"reads": 40, "failures": 0}, "w2": {"reads": 2, "failures": 1}},
    }
    text = markdown({"discovery": on})
    assert "(lists and watch events), failed | 42, 1 failed (2 nodes) | - |" in text
    assert "| SSH sessions to workers | 0 | - |" in text
    assert "| requests during the replacements | 12,000, 0 failed (3 sent again" in text
    assert "1.0 s (0.5-2.0)" in text


def test_each_steps_changes_as_status_follow_showed_them() -> None:
    from bench.master_replace import followed
    from bench.status_follow import step_changes

    new, old = "10.77.0.14:6443", "10.77.0.11:6443"
    changes = [
        {"node": "w1", "what": "up", "master": new, "at": 90.0},  # before the step: not its
        {"node": "w1", "what": "added", "master": new, "at": 101.0},
        {"node": "w1", "what": "up", "master": new, "at": 101.5},
        {"node": "w1", "what": "up", "master": new, "at": 109.0},  # the first counts
        {"node": "w2", "what": "removed", "master": old, "at": 104.0},
        {"node": "w2", "what": "connections", "master": old, "at": 104.0},
    ]
    got = step_changes(changes, 95.0, new, old, 100.0)
    assert got == {"w1": {"new added": 1.0, "new up": 1.5}, "w2": {"old removed": 4.0}}
    steps = [{"status_follow_after_endpoint_s": got}, {}]
    assert followed(steps, "new up") == {"median": 1.5, "min": 1.5, "max": 1.5}
    assert followed(steps, "old draining") == {}
