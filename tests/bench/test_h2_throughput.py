"""bench.h2_throughput's arithmetic: h2load's summary read, ratios taken per pair, the median
and spread reported, and two runs compared (no lab: the measurement itself is the bench's)."""

from __future__ import annotations

from bench.h2_throughput import (
    Pairs,
    Round,
    cores,
    cpu_markdown,
    markdown,
    parse_h2load,
    per_request_us,
)

H2LOAD = """starting benchmark...
finished in 8.00s, 1234.50 req/s, 1.21MB/s
requests: 9876 total, 9876 started, 9870 done, 9866 succeeded, 4 failed, 0 errored, 0 timeout
"""


def test_h2loads_summary_gives_the_rate_and_the_requests_that_did_not_succeed() -> None:
    assert parse_h2load(H2LOAD) == Round(1234.5, 4)


def test_ratios_are_per_pair_and_the_report_shows_median_spread_and_agreement() -> None:
    def pairs(direct: list[float], balancer: list[float]) -> Pairs:
        found = Pairs("local-nginx", "HTTP/2 multiplexed")
        found.direct = [Round(x, 0) for x in direct]
        found.balancer = [Round(x, 0) for x in balancer]
        return found

    first = pairs([1000, 800, 1200], [950, 780, 1100])  # the host's drift falls on both sides
    assert [round(r, 3) for r in first.ratios] == [0.95, 0.975, 0.917]
    second = pairs([900, 1000, 1100], [870, 930, 1050])
    text = markdown([[first], [second]])
    assert "| HTTP/2 multiplexed | local-nginx | 1 | 3 | 1000 | 950 | 0.950 | 0.917-0.975 |" in text
    assert "| HTTP/2 multiplexed | local-nginx | 0.950, 0.955 | 0.005 |" in text


def test_cpu_is_charged_per_request_and_in_cores() -> None:
    """A round's CPU per group over its requests (rps x wall), medians over the rounds."""
    found = Pairs("local-haproxy", "HTTP/2 multiplexed")
    found.direct = [Round(1000, 0, {"apiserver": 5.0, "etcd": 1.0}, 10.0)]
    found.balancer = [Round(800, 0, {"apiserver": 4.0, "proxy": 2.0, "etcd": 0.8}, 10.0)]
    assert per_request_us(found.balancer, "proxy") == 250.0  # 2 s over 8000 requests
    assert per_request_us(found.direct, "apiserver") == 500.0
    assert per_request_us(found.direct, "proxy") is None
    assert round(cores(found.balancer) or 0, 6) == 0.68
    row = cpu_markdown([[found]]).splitlines()[-1]
    assert row.startswith("| HTTP/2 multiplexed | local-haproxy | 250 | 500 | 500 | 100 | 100 |")
    # the lab's whole CPU per request: 600 µs direct, 850 µs through; 600 / 850 = 0.706
    assert row.endswith("| 600 | 850 | 0.706 | 0.60 | 0.68 |")
