"""The bench command in its short mode, once, on the lab: it runs end to end and writes the
report and its charts (the figures themselves are not asserted: this is not a timed test)."""

from __future__ import annotations

import pytest

from bench.run import main

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_bench_short_writes_the_report_and_charts(lab, tmp_path, capsys):
    assert main(["--short", "--out", str(tmp_path), "--no-lock"]) == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    for heading in (
        "## 1. Failover",
        "## 2. Deploy wall time",
        "## 3. Throughput",
        "## 4. The wizard",
    ):
        assert heading in text
    assert "| kubeha local-nginx | kill" in text and "| guide 000 nginx | kill" in text
    assert "**ipvs**: not measured" in text
    for chart in ("failover.png", "deploy.png", "throughput.png"):
        data = (tmp_path / chart).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    assert lab.shape == (3, 2, 0)
