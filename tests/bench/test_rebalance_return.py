"""bench.rebalance_return's figures from samples (the lab run is the bench itself): the ratio of
the busiest to the least busy master, and the table's rows."""

from __future__ import annotations

import math

from bench.rebalance_return import markdown, ratio


def test_the_ratio_is_the_busiest_over_the_least_busy():
    assert ratio({"m1": 0, "m2": 9, "m3": 8}) == math.inf  # m1 back and carrying nothing
    assert ratio({"m1": 0, "m2": 0, "m3": 0}) == 1.0
    assert ratio({"m1": 8, "m2": 10, "m3": 9}) == 1.25


def test_the_table_has_a_row_per_run_and_the_median_when_every_run_met_it():
    run = {
        "before": {"m1": 9, "m2": 9, "m3": 8},
        "away": {"m1": 0, "m2": 13, "m3": 13},
        "at_return": {"m1": 0, "m2": 13, "m3": 13},
        "at_60s": {"m1": 8, "m2": 9, "m3": 9},
        "ratio_at_return": math.inf,
        "ratio_at_60s": 1.12,
        "within_ratio_from_s": 14.2,
        "closed_by_agents": 8,
        "failed": 0,
        "requests": 2900,
        "writes_failed": 0,
        "writes": 140,
        "watch_restarts": 8,
    }
    off = dict(run, within_ratio_from_s=None, closed_by_agents=0)
    text = markdown({"off": [off], "on": [run, dict(run, within_ratio_from_s=20.0)]})
    lines = text.splitlines()
    assert "| off | 1 | 9/9/8, 0/13/13, 0/13/13, 8/9/9 | inf → 1.12 | never | 0 |" in text
    assert sum(line.startswith("| on |") for line in lines) == 2
    assert "0 of 2900, 0 of 140" in text
    assert lines[-1] == "rebalance on: within 1.25 from 17 s after the return (median; 14-20 s)"
