"""bench.status_paint on a small fleet: every node read over loopback HTTP and the table
painted (the figures themselves belong to the bench run, not to a test)."""

from __future__ import annotations

from bench import status_paint


def test_a_small_fleet_is_read_and_painted(capsys) -> None:
    assert status_paint.main(["--nodes", "20", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "20 nodes x 3 masters, 1 rounds" in out
    assert "kubeha status: start to the first painted table: median" in out


def test_the_metrics_are_an_agents_with_one_master_down() -> None:
    from wizard.status.fleet import status_of

    status = status_of("w1", status_paint.metrics_text())
    assert status.ok and [m.up for m in status.masters] == [True, False, True]
