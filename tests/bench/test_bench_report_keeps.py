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


def test_every_section_of_a_separate_run_in_the_report_is_a_kept_heading():
    """The sections other runs wrote into docs/BENCHMARKS.md (the real clients, throughput, the
    IPv6 drills, the fan-out) are all headings the full report keeps, word for word."""
    from pathlib import Path

    from bench import report

    doc = (Path(__file__).resolve().parents[2] / "docs" / "BENCHMARKS.md").read_text()
    kept = (report.REAL_CLIENTS, report.REAL_THROUGHPUT, report.IPV6, report.FANOUT, report.MASTERS)
    written = [line for line in doc.splitlines() if line.startswith("## ")]
    numbered = [h for h in written if h[3:4].isdigit()]
    assert set(written) - set(numbered) - {"## How to run"} <= set(kept), written
