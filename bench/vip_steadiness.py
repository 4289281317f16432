"""Whether a short VRRP advert interval keeps the VIP still on a loaded host:
``python -m bench.vip_steadiness [--advert-int 0.3] [--seconds 300]`` (root, the stand-in lab;
it takes the lab test lock unless ``--no-lock``). haproxy-keepalived applied with
``advert_int``, then every master's network namespace asked every 0.1 s whether it holds the
VIP, for ``--seconds``, no fault made: a move, or a moment with no holder or two, is a false
failover (keepalived missed 3 adverts of a live holder). Load the host beside it (the test
suite) to see the worst case; the load average is printed each minute.
"""

from __future__ import annotations

import argparse
import os
import time

from bench import failover
from bench.cut_time import with_advert_int
from bench.run import lab_lock
from wizard.engine.apply import run_uninstall
from wizard.engine.model import ApplyOptions
from wizard.render import build_plan

SAMPLE_S = 0.1


def watch(lab, seconds: float, log=print) -> dict:
    """Samples of the VIP's holders over ``seconds``: moves and odd moments (0 or 2 holders)."""
    end = time.monotonic() + seconds
    last: tuple[str, ...] | None = None
    samples = moves = odd = 0
    next_minute = time.monotonic() + 60
    while time.monotonic() < end:
        now = failover.vip_in_namespaces(lab)
        samples += 1
        if len(now) != 1:
            odd += 1
        if last is not None and now != last:
            moves += 1
            log(
                f"vip steadiness: holders {list(last)} -> {list(now)} at load {os.getloadavg()[0]:.2f}"
            )
        last = now
        if time.monotonic() >= next_minute:
            log(f"vip steadiness: {samples} samples, {moves} moves; load {os.getloadavg()[0]:.2f}")
            next_minute += 60
        time.sleep(SAMPLE_S)
    return {"samples": samples, "moves": moves, "odd_samples": odd, "holder": list(last or ())}


def main(argv=None) -> int:
    from wizard.lab import up
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.vip_steadiness", description=__doc__)
    parser.add_argument("--advert-int", type=float, default=0.3)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--no-lock", action="store_true")
    args = parser.parse_args(argv)
    require_root()
    with lab_lock(not args.no_lock):
        lab = up(3, 2, 0, log=lambda text: print(f"[lab] {text}"))
        profile = failover.deploy(lab, "haproxy-keepalived", with_advert_int(args.advert_int))
        try:
            loads = os.getloadavg()
            seen = watch(lab, args.seconds)
        finally:
            run_uninstall(build_plan(profile), ApplyOptions(), failover._quiet)
    print(
        f"SUMMARY vip steadiness: advert_int {args.advert_int:g} s, {args.seconds:g} s watched, "
        f"{seen['samples']} samples, {seen['moves']} moves, {seen['odd_samples']} with no holder "
        f"or two; load {loads[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        f"({time.strftime('%H:%M UTC', time.gmtime())})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
