"""What the session cutter costs a node while nothing fails: ``python -m bench.cutter_cost
[--seconds 30] [--rounds 3] [--script FILE ...]`` (root; unshare, openssl). The cutter runs on
every node of local-nginx and local-haproxy and on haproxy-keepalived's load-balancer nodes, and
probes every master every interval, so its CPU is taken from each node's own work.

Inside an empty network namespace (``unshare -n``: loopback only) three stand-in masters serve
TLS on 127.0.0.2-4:6443 (tests/support/standin_masters.py); the cutter, rendered for a default
profile with those masters (interval 1 s), runs for ``--seconds`` as systemd runs it (its own
process group), then is stopped. The bench is the subreaper of everything the cutter starts, so
the CPU of every process of its tree (the shell loops and each curl, ss, sleep, awk they run)
is read once they are reaped (``RUSAGE_CHILDREN``); the stand-ins' CPU is not counted. Reported:
CPU per second (cores) and per probe (3 masters x one probe per interval).

``--script FILE`` (repeatable): measure these rendered cutters instead, interleaved round by
round (before and after a change: ``--render FILE`` writes this tree's, run it on each tree).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PLACEHOLDER = Path("/run/kubeha-cutter-cost")  # a rendered cutter's folder, set per round


def children_cpu() -> float:
    """CPU seconds of every reaped child and descendant so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def reap_all(limit_s: float = 20.0) -> None:
    """Every child and orphaned descendant waited for (bounded in time)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def inside(script: str, cert: str, key: str, codes: str, seconds: float) -> None:
    """In the empty namespace: the stand-ins, then the cutter for ``seconds``; one JSON line."""
    from tests.support.all_failing_scenario import MASTERS, wait_port

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    standins = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin_masters", cert, key, codes, *MASTERS],
        stdout=subprocess.DEVNULL,
    )
    try:
        for address in MASTERS:
            wait_port(address, 6443)
        before = children_cpu()
        log = open(Path(codes) / "cutter.log", "w")  # noqa: SIM115 - closed below
        cutter = subprocess.Popen(["sh", script], stderr=log, start_new_session=True)
        time.sleep(seconds)
        os.killpg(cutter.pid, signal.SIGTERM)
        cutter.wait(10)
        time.sleep(0.5)  # its loops' last children end
        for pid in filter(str.isdigit, os.listdir("/proc")):  # anything of its group left: killed
            try:
                if os.getpgid(int(pid)) == cutter.pid:
                    os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap_all()
        used = children_cpu() - before
        log.close()
        failed = [line for line in (Path(codes) / "cutter.log").read_text().splitlines() if line]
    finally:
        standins.terminate()
        standins.wait(10)
    print(json.dumps({"cpu_s": used, "seconds": seconds, "log": failed[-5:]}))
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cutter_cost", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3, help="per script, interleaved")
    parser.add_argument("--script", action="append", default=[], help="a rendered cutter")
    parser.add_argument("--render", help="write this tree's rendered cutter there and stop")
    parser.add_argument("--inside", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        script, cert, key, codes, seconds = args.inside
        inside(script, cert, key, codes, float(seconds))
        return 0
    with tempfile.TemporaryDirectory(prefix="kubeha-cutter-cost-") as folder:
        work = Path(folder)
        from tests.support.all_failing_scenario import MASTERS
        from tests.support.netns_scenario import (
            cutter_text,
            in_empty_netns,
            loopback_profile,
            self_signed,
        )

        if args.render:
            Path(args.render).write_text(cutter_text(loopback_profile("local-nginx"), PLACEHOLDER))
            return 0
        if os.geteuid() != 0:
            raise SystemExit("root is needed (unshare -n)")

        cert, key = self_signed(work)
        scripts = [Path(s) for s in args.script]
        if not scripts:
            mine = work / "cutter.sh"
            mine.write_text(cutter_text(loopback_profile("local-nginx"), PLACEHOLDER))
            scripts = [mine]
        figures: dict[str, list[float]] = {str(s): [] for s in scripts}
        for index in range(args.rounds):
            for script in scripts:
                codes = work / f"codes-{index}-{scripts.index(script)}"
                codes.mkdir()
                text = script.read_text().replace(str(PLACEHOLDER), str(codes))
                runnable = codes / "cutter.sh"
                runnable.write_text(text)
                got = in_empty_netns(
                    "bench.cutter_cost",
                    *("--inside", str(runnable), str(cert), str(key), str(codes)),
                    f"{args.seconds:g}",
                    timeout=args.seconds + 120,
                )
                cores = got["cpu_s"] / got["seconds"]
                figures[str(script)].append(cores)
                print(
                    f"cutter cost: {script.name} round {index + 1}: {got['cpu_s']:.2f} CPU s over "
                    f"{got['seconds']:g} s = {cores * 100:.1f} % of a core "
                    f"({cores / len(MASTERS) * 1000:.1f} ms per probe); load "
                    f"{os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        print(f"cutter cost, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:")
        for script, values in figures.items():
            print(
                f"  {Path(script).name}: median {statistics.median(values) * 100:.1f} % of a core "
                f"({min(values) * 100:.1f}-{max(values) * 100:.1f}), "
                f"{statistics.median(values) / len(MASTERS) * 1000:.1f} ms per probe"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
