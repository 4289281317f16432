"""The bench command: every measurement on the lab, then docs/BENCHMARKS.md and the charts.

``python -m bench [--short] [--out DIR] [--no-lock]``. It takes the lab test lock unless told
its caller already holds it (a pytest session with the ``lab`` fixture)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench import deploy_scale, failover, report, strategy_change, throughput, wizard_timing
from wizard.engine.drill import DrillTiming

ROOT = Path(__file__).resolve().parent.parent
LOCK = "/run/kubeha-lab-tests.lock"
IPVS_NOTE = (
    "This machine's kernel has no IPVS, so the ipvs rows come from the lab's QEMU guest (Debian's "
    "stock kernel under software emulation, `kubeha lab up --ipvs-nodes 1`) as the one client, "
    "the three nspawn masters as real servers, the checker probing every 2 s (fall 2, rise 2) "
    "because a probe round takes about 1.2 s of an emulated CPU. The guest is far slower than "
    "the nspawn nodes: read its rows for failures and recovery, not for latency."
)


# --short proves that the bench runs end to end and writes its report and charts (CI runs it
# once): its drills only need to run, so they are short; its figures are not for reading.
SMOKE = DrillTiming(lead=1.0, hold=3.0, duration=6.0)


@contextlib.contextmanager
def lab_lock(take: bool) -> Iterator[None]:
    if not take:
        yield
        return
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--short", action="store_true", help="a quick run (what CI does once)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the report")
    parser.add_argument(
        "--no-lock", action="store_true", help="the caller already holds the lab test lock"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from wizard.lab import up
    from wizard.lab.system import require_root

    args = parse(argv)
    require_root()
    # A TERM (a time limit) unwinds like an error: the lab goes back to its usual shape.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timing = SMOKE if args.short else DrillTiming()
    results = report.Results(
        started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        mode="short" if args.short else "full",
        machine=f"{platform.system()} {platform.release()}, {os.cpu_count()} cores",
        timing=(
            f"fault {timing.lead:g} s into a {timing.duration:g} s loop, master away for "
            f"{timing.hold:g} s, a request every {timing.interval:g} s per node"
        ),
        ipvs_note=IPVS_NOTE,
        hold_s=timing.hold,
    )
    with lab_lock(not args.no_lock):
        lab = up(3, 2, 0, log=lambda line: print(f"[lab] {line}"))
        if args.short:
            results.failover = failover.measure(lab, ("kill",), timing, ("local-nginx",))
            results.deploy, lab = deploy_scale.measure(lab, (1, 5))
            results.throughput = throughput.measure(lab, 0.5, short=True)
        else:
            results.failover = failover.measure(lab, ("kill", "cut", "drain"), timing)
            results.failover += strategy_change.rows(lab)
            try:
                results.failover += failover.measure_ipvs(lab, ("kill", "cut", "drain"), timing)
            except Exception as exc:  # the other figures still make the report
                print(f"failover: ipvs not measured: {type(exc).__name__}: {exc}")
            results.deploy, lab = deploy_scale.measure(lab, (1, 10, 30, 60))
            results.throughput = throughput.measure(lab, 5.0)
        failover.run_uninstall_all(lab)
    results.wizard = wizard_timing.measure(5, rounds=1) if args.short else wizard_timing.measure(20)
    pngs = report.write(results, args.out / "BENCHMARKS.md", args.out)
    print(f"bench: wrote {args.out / 'BENCHMARKS.md'} and {', '.join(p.name for p in pngs)}")
    return 0
