"""How soon the ipvs strategy's checker takes a cut master out: ``python -m bench.ipvs_checker_cut
[--drops 5] [--rounds 2] [--script FILE ...]`` (root; unshare, openssl, nft).

This machine's kernel has no IPVS (no /proc/net/ip_vs, no module to load), so the lab's ipvs
rows come from an emulated QEMU guest, where a probe round costs more than a second of CPU and
the checker runs every 2 s: they say nothing about how soon a native node takes a master out.
This measures that part natively: inside an empty network namespace (``unshare -n``: loopback
only) three stand-in masters serve TLS on 127.0.0.2-4:6443 (tests/support/standin_masters.py)
and the real checker (bash, curl, ss) runs with a default profile's settings (interval 1 s,
timeout 1 s, fall 2, rise 2); ipvsadm is a fake that keeps the table in a file
(tests/support/ipvs_fakes.py) and ip a no-op (no dummy interfaces in this kernel either), so
"out" is the moment the checker removed the master from that table, the moment it destroys
the node's sockets to that master. Each drop, at a random moment of the checker's interval:
127.0.0.3 vanishes (an nftables drop: no TCP handshake, as a cut host) until it is out, then
comes back and is let back in. Reported: seconds from the drop to out.

``--script FILE`` (repeatable): these checkers instead of this tree's, interleaved round by
round (before and after a change: ``git show REV:templates/ipvs/kubeha-ipvs-checker.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

VICTIM = "127.0.0.3"
SETTLE_S = 5.0  # the checker's connect limit adapts to the stand-ins' TLS over a few rounds
OUT_LIMIT_S = 15.0
BACK_LIMIT_S = 20.0
DROP_RULES = (
    "table inet cut {\n chain in {\n  type filter hook input priority 0;\n"
    f"  ip daddr {VICTIM} tcp dport 6443 drop\n }}\n}}\n"
)


def table(fake: Path) -> list[str]:
    try:
        lines = (fake / "table").read_text().splitlines()[1:]
    except OSError:
        return []
    return [line.split()[0] for line in lines if line.strip()]


def wait_until(predicate, limit_s: float) -> float | None:
    """Seconds until ``predicate()`` holds, polled every 10 ms; None after ``limit_s``."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def inside(script: str, cert: str, key: str, work: str, drops: int) -> None:
    """In the empty namespace: the stand-ins, the checker, ``drops`` cuts; one JSON line."""
    from tests.support.all_failing_scenario import MASTERS, stop, wait_port
    from tests.support.ipvs_fakes import FAKE_IPVSADM, NO_OP, install

    folder = Path(work)
    fake = folder / "fake"
    # ip: a no-op, as in the unit tests (this kernel has no dummy interfaces either; the VIP's
    # address is not what is measured here)
    install(fake / "bin", {"ipvsadm": FAKE_IPVSADM, "ip": NO_OP})
    codes = str(folder / "codes")
    Path(codes).mkdir()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)  # the real ip
    started: list[subprocess.Popen] = []
    victim = f"{VICTIM}:6443"
    seen: dict[str, object] = {"out_s": [], "back": []}
    try:
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.support.standin_masters", cert, key, codes, *MASTERS],
                stdout=subprocess.DEVNULL,
            )
        )
        for address in MASTERS:
            wait_port(address, 6443)
        env = {
            "PATH": f"{fake / 'bin'}:{os.environ['PATH']}",
            "FAKE": str(fake),
            "VIP": "10.103.97.2",  # never configured: ip is a no-op here
            "PORT": "6443",
            "SCHEDULER": "rr",
            "REAL_SERVERS": " ".join(f"{m}:6443" for m in MASTERS),
            "CHECK_PATH": "/readyz",
            "INTERVAL": "1.0",
            "TIMEOUT": "1.0",
            "FALL": "2",
            "RISE": "2",
            "OK_CODES": "200",
            "ALL_FAILING_FILE": str(folder / "all-masters-failing"),
        }
        log = open(folder / "checker.log", "w")  # noqa: SIM115 - closed below
        started.append(
            subprocess.Popen(
                ["bash", script],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        if wait_until(lambda: len(table(fake)) == len(MASTERS), 15) is None:
            raise SystemExit(f"the checker did not fill its table: {table(fake)}")
        time.sleep(SETTLE_S)
        for _ in range(drops):
            time.sleep(random.uniform(0, 1.0))  # a random moment of the checker's interval
            subprocess.run(["nft", "-f", "-"], input=DROP_RULES, text=True, check=True, timeout=10)
            out = wait_until(lambda: victim not in table(fake), OUT_LIMIT_S)
            subprocess.run(["nft", "delete", "table", "inet", "cut"], check=True, timeout=10)
            seen["out_s"].append(None if out is None else round(out, 3))
            back = wait_until(lambda: victim in table(fake), BACK_LIMIT_S)
            seen["back"].append(back is not None)
            time.sleep(2.0)
        log.close()
        seen["log"] = (folder / "checker.log").read_text().splitlines()[-8:]
    finally:
        stop(started)
    print(json.dumps(seen))
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ipvs_checker_cut", description=__doc__)
    parser.add_argument("--drops", type=int, default=5, help="per round")
    parser.add_argument("--rounds", type=int, default=2, help="per script, interleaved")
    parser.add_argument("--script", action="append", default=[], help="a checker script")
    parser.add_argument("--inside", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        script, cert, key, work, drops = args.inside
        inside(script, cert, key, work, int(drops))
        return 0
    if os.geteuid() != 0:
        raise SystemExit("root is needed (unshare -n)")
    from tests.support.netns_scenario import in_empty_netns, self_signed
    from wizard.strategies.ipvs import checker_script

    with tempfile.TemporaryDirectory(prefix="kubeha-ipvs-cut-") as folder:
        work = Path(folder)
        cert, key = self_signed(work)
        scripts = [Path(s) for s in args.script]
        if not scripts:
            mine = work / "checker.sh"
            mine.write_text(checker_script())
            scripts = [mine]
        figures: dict[str, list[float | None]] = {str(s): [] for s in scripts}
        for index in range(args.rounds):
            for number, script in enumerate(scripts):
                round_dir = work / f"round-{index}-{number}"
                round_dir.mkdir()
                got = in_empty_netns(
                    "bench.ipvs_checker_cut",
                    *("--inside", str(script), str(cert), str(key), str(round_dir)),
                    str(args.drops),
                    timeout=args.drops * (OUT_LIMIT_S + BACK_LIMIT_S + 4) + 60,
                )
                figures[str(script)].extend(got["out_s"])
                print(
                    f"{script} round {index + 1}: out after {got['out_s']} s, back "
                    f"{got['back']}; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        for script, outs in figures.items():
            known = sorted(o for o in outs if o is not None)
            missed = len(outs) - len(known)
            print(
                f"SUMMARY {script}: {len(outs)} drops, out after median "
                f"{statistics.median(known):.2f} s, worst {max(known):.2f} s, best "
                f"{min(known):.2f} s; never out {missed}; "
                f"{time.strftime('%H:%M UTC', time.gmtime())}"
                if known
                else f"SUMMARY {script}: never out in {len(outs)} drops"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
