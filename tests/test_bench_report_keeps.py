"""The bench report keeps the real-client section a separate run wrote (bench.real_clients):
a full `python -m bench` must not drop it."""

from __future__ import annotations

from bench.report import REAL_CLIENTS, kept_section


def test_the_real_client_section_is_kept_up_to_the_next_heading(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    assert kept_section(report, REAL_CLIENTS) == []  # no report yet
    report.write_text(
        f"# Benchmarks\n\n## 1. Failover\n\nx\n\n{REAL_CLIENTS}\n\n| a |\n\n## How to run\n"
    )
    assert kept_section(report, REAL_CLIENTS) == [REAL_CLIENTS, "", "| a |", ""]
    report.write_text("# Benchmarks\n\n## 1. Failover\n")
    assert kept_section(report, REAL_CLIENTS) == []
