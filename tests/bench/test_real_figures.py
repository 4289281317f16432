"""The real-client drill's figures (bench/real_figures.py) from made-up agent records: a watch
that comes back late, one that never does, lease renewals and moves, kube-proxy's staleness from
its healthz strings, the kept-alive client's failures."""

from __future__ import annotations

import pytest

from bench.real_figures import (
    NodeRecords,
    clock_offset,
    drill_row,
    go_time,
    markdown,
    on_host_clock,
)

FAULT, RESTORE = 1000.0, 1020.0


def writes(start: float = 990.0, end: float = 1020.0) -> list[dict]:
    rows, n, t = [], 0, start
    while t < end:
        rows.append({"k": "w", "n": n, "t0": t, "t1": t + 0.02, "code": 200})
        n, t = n + 1, t + 0.5
    return rows


def node(name: str, silent: tuple[float, float] | None, records=()) -> NodeRecords:
    rec = NodeRecords(name)
    for record in [*records, *(writes() if name == "w1" else ())]:
        rec.add(record)
    for w in writes():
        t = w["t1"] + 0.05
        if silent and silent[0] <= t < silent[1]:
            continue
        if silent and t >= silent[1]:
            t = max(t, silent[1])
        rec.add({"k": "ev", "t": t, "n": w["n"]})
    return rec


def test_go_time_reads_kube_proxys_healthz_strings():
    text = "2026-12-01 08:50:01.5 +0000 UTC m=+12.3"
    assert go_time(text) == pytest.approx(1796115001.5)
    assert go_time("") is None


def test_a_late_watch_a_stuck_one_leases_and_the_proxy():
    leases = [
        {"k": "lease", "t": t, "name": name, "code": 200, "holder": holder, "renew": renew}
        for t, name, holder, renew in (
            (998.0, "kube-controller-manager", "m1_a", "1970-01-01T00:16:37.000000Z"),
            (998.0, "kube-scheduler", "m2_b", "1970-01-01T00:16:37.500000Z"),
            (1003.0, "kube-controller-manager", "m1_a", "1970-01-01T00:16:41.500000Z"),
            (1018.0, "kube-scheduler", "m3_c", "1970-01-01T00:16:57.000000Z"),
        )
    ]
    proxy = [
        {"k": "hz", "t": 999.0, "code": 200, "last": "1970-01-01 00:16:38 +0000 UTC",
         "now": "1970-01-01 00:16:39 +0000 UTC"},
        {"k": "hz", "t": 1005.0, "code": 200, "last": "1970-01-01 00:16:39 +0000 UTC",
         "now": "1970-01-01 00:16:45 +0000 UTC"},
    ]  # fmt: skip
    ka = [
        {"k": "ka", "t0": 1000.5, "t1": 1000.6, "code": 0},
        {"k": "ka", "t0": 1001.0, "t1": 1001.1, "code": 200},
    ]
    rules = [{"k": "rule", "t": w["t1"] + 0.3, "n": w["n"]} for w in writes()]
    late = node("w1", (1000.0, 1002.5), [*leases, *proxy, *ka, *rules])
    fine = node("m2", None)
    row = drill_row("local-nginx", "kill", "m1", [late, fine], set(), 995.0, FAULT, RESTORE)
    assert row.watch_node == "w1" and 1.5 < row.watch_back_s < 2.6
    assert 2.4 < row.watch_gap_s < 2.7 and row.stuck == ()
    assert row.leases_s == pytest.approx(17.0)
    assert row.holders == "scheduler m2→m3"
    assert row.proxy_stale_s == pytest.approx(6.0) and row.proxy_back_s == pytest.approx(0.3)
    assert (row.ka_failed, row.ka_lost, row.ka_total) == (1, 0, 2)
    assert row.ka_back_s == pytest.approx(0.6)
    assert row.met

    stuck = node("w2", (1001.0, 1030.0))
    row = drill_row("local-nginx", "cut", "m1", [late, stuck], set(), 995.0, FAULT, RESTORE)
    assert row.stuck == ("w2",) and row.watch_back_s is None and not row.met
    assert "| never |" in markdown([row]) and "missed" in markdown([row])
    row = drill_row("local-nginx", "cut", "w2", [late, stuck], {"w2"}, 995.0, FAULT, RESTORE)
    assert row.stuck == ()


def test_a_guests_clock_is_read_from_its_fastest_ping_and_its_records_moved_onto_the_hosts():
    # The guest runs 0.8 s ahead; pings over SSH take 40 ms, 6 ms and 300 ms round trips.
    pongs = [(10.0, 10.82, 10.04), (20.0, 20.803, 20.006), (30.0, 30.95, 30.3)]
    offset, error = clock_offset(pongs)
    assert offset == pytest.approx(0.8) and error == pytest.approx(0.003)
    record = {"k": "w", "n": 3, "t0": 1000.8, "t1": 1001.3, "code": 200}
    on_host_clock(record, offset)
    assert record == {"k": "w", "n": 3, "t0": pytest.approx(1000.0), "t1": pytest.approx(1000.5),
                      "code": 200}  # fmt: skip


def test_a_drill_without_lease_records_shows_no_lease_figures():
    rows = drill_row("ipvs", "kill", "m1", [node("w1", None)], set(), 990.0, FAULT, RESTORE)
    assert rows.leases_s is None and rows.holders == "-"
    line = markdown([rows]).splitlines()[-1]
    assert "| - | - |" in line and "never" not in line


def test_an_older_value_seen_before_a_write_does_not_count_as_that_write():
    # The watch listed port n=80 (an earlier drill's last write) at its start, then went silent:
    # this drill's writes n=0.. were never delivered, whatever their numbers.
    stale = NodeRecords("w2")
    stale.add({"k": "ev", "t": 985.0, "n": 80})
    writer = node("w1", None)
    row = drill_row("x", "kill", "m1", [writer, stale], set(), 990.0, FAULT, RESTORE)
    assert row.watch_back_s is None and row.stuck == ("w2",)
