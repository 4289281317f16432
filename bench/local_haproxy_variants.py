"""local-haproxy's failover settings side by side: each variant of its config deployed on the
lab and put through the same drill as ``kubeha verify --drill`` (kill, cut and drain of one
master), with local-nginx as the reference. The figures behind the defaults in
wizard/strategies/local_haproxy.py (Tuning) and docs/BENCHMARKS.md.

``python -m bench.local_haproxy_variants [--rounds N] [--kinds kill,cut,drain] [--only KEYS]
[--json FILE] [--no-lock]``: root, the lab (brought up with 3 masters and 2 workers if it is
not); takes the lab test lock unless told; leaves the lab without any strategy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time

from bench.failover import FailoverRow, row
from bench.run import lab_lock
from wizard.commands.lab_drill import LabFault
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.drill import DrillTiming
from wizard.engine.drill_run import run_drill
from wizard.engine.model import ApplyOptions
from wizard.lab import Lab
from wizard.lab.profiles import build_profile
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan
from wizard.strategies import local_haproxy
from wizard.strategies.local_haproxy import Tuning

CHOSEN = Tuning()
VARIANTS: dict[str, tuple[str, Tuning | None]] = {
    "chosen": (
        "local-haproxy: session cutter, tcp keepalive + tcp-ut, connect 0.5 s (chosen)",
        CHOSEN,
    ),
    "kernel-only": (
        "local-haproxy: tcp keepalive + tcp-ut, connect 0.5 s, no session cutter",
        dataclasses.replace(CHOSEN, session_cutter=False),
    ),
    "observe": (
        "local-haproxy: chosen, observe layer4 mark-down for fail-check",
        dataclasses.replace(CHOSEN, observe="layer4 error-limit 1 on-error mark-down"),
    ),
    "shutdown": (
        "local-haproxy: on-marked-down shutdown-sessions",
        dataclasses.replace(CHOSEN, tcp_keepalive=False, shutdown_sessions=True),
    ),
    "shutdown-1s": (
        "local-haproxy: shutdown-sessions, connect 1 s",
        dataclasses.replace(
            CHOSEN, tcp_keepalive=False, shutdown_sessions=True, connect_timeout_ms=1000
        ),
    ),
    "both": (
        "local-haproxy: chosen + shutdown-sessions",
        dataclasses.replace(CHOSEN, shutdown_sessions=True),
    ),
    "cutter-only": (
        "local-haproxy: session cutter, connect 1 s",
        dataclasses.replace(
            CHOSEN, tcp_keepalive=False, session_cutter=True, connect_timeout_ms=1000
        ),
    ),
    "bare": (
        "local-haproxy: checks only (no session closing)",
        dataclasses.replace(CHOSEN, tcp_keepalive=False),
    ),
    "nginx": ("local-nginx (reference)", None),
}
# Uninstalling with the cutter in the plan removes a cutter a variant installed.
EVERYTHING = dataclasses.replace(CHOSEN, session_cutter=True)


def _quiet(_event) -> None:
    pass


def lab_profile(lab: Lab, strategy: str) -> Profile:
    profile = profile_from_dict(build_profile(lab.state, strategy)).profile
    assert profile is not None
    return profile


def clean(lab: Lab) -> None:
    local_haproxy.TUNING = EVERYTHING
    try:
        for strategy in ("local-nginx", "haproxy-keepalived", "local-haproxy"):
            run_uninstall(build_plan(lab_profile(lab, strategy)), ApplyOptions(), _quiet)
    finally:
        local_haproxy.TUNING = CHOSEN


def watches_left(lab: Lab, profile: Profile, master: str, at: float, into: list) -> None:
    """How many watches the draining master still serves ``at`` seconds from now."""
    address = next(m.address for m in profile.masters if m.name == master)
    time.sleep(at)
    probe = f"curl -sk -m 2 https://{address}:6443/lab/watches"
    into.append(lab.exec_in_node(master, ["sh", "-c", probe]).stdout.strip())


def measure(
    lab: Lab, keys: list[str], kinds: list[str], rounds: int, master: str, log=print
) -> list[tuple[str, FailoverRow, str]]:
    timing = DrillTiming()
    rows: list[tuple[str, FailoverRow, str]] = []
    for key in keys:
        title, tuning = VARIANTS[key]
        clean(lab)
        strategy = "local-nginx" if tuning is None else "local-haproxy"
        local_haproxy.TUNING = tuning or CHOSEN
        try:
            profile = lab_profile(lab, strategy)
            summary = run_apply(build_plan(profile), ApplyOptions(verify_timeout=40), _quiet)
            if not summary.ok:
                log(f"{title}: not measured, the apply failed")
                continue
            for _round in range(rounds):
                for kind in kinds:
                    time.sleep(3)  # the checks settle after the last restore
                    left: list[str] = []
                    sampler = None
                    if kind == "drain":  # 1.5 s before the lab apiserver's listener closes
                        at = timing.lead + 6.0 - 1.5
                        sampler = threading.Thread(
                            target=watches_left, args=(lab, profile, master, at, left)
                        )
                        sampler.start()
                    report = run_drill(profile, master, kind, timing, fault=LabFault(master, kind))
                    if sampler is not None:
                        sampler.join(30)
                    result = row(title, report)
                    rows.append((key, result, left[0] if left else ""))
                    log(
                        f"{title} | {kind} | failed {result.failed} | lost {result.lost_in_flight}"
                        f" | stalled {result.stalled} | recovered {result.recovered_s} s"
                        f" | watches cut {result.watches_cut} | watch back {result.watch_back_s}"
                        f" | kept-alive {result.ka_failed}/{result.ka_requests}"
                        f" back {result.ka_back_s} s"
                        + (f" | watches left before close {left[0]}" if left else "")
                    )
        finally:
            local_haproxy.TUNING = CHOSEN
    clean(lab)
    return rows


def main(argv=None) -> int:
    from wizard.lab import current, up
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.local_haproxy_variants")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default="kill,cut,drain")
    parser.add_argument("--only", default=",".join(VARIANTS), help="variant keys, comma-separated")
    parser.add_argument("--master", default="m2")
    parser.add_argument("--json", help="append every row to this JSON-lines file")
    parser.add_argument("--no-lock", action="store_true")
    args = parser.parse_args(argv)
    keys = args.only.split(",")
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown:
        print(f"--only: unknown {', '.join(unknown)}; expected {', '.join(VARIANTS)}")
        return 2
    require_root()
    with lab_lock(not args.no_lock):
        lab = current()
        if lab is None or lab.shape != (3, 2, 0) or not lab.healthy():
            lab = up(3, 2, 0, log=lambda line: print(f"[lab] {line}"))
        rows = measure(lab, keys, args.kinds.split(","), args.rounds, args.master)
    if args.json:
        with open(args.json, "a") as out:
            for key, result, left in rows:
                out.write(json.dumps({"key": key, **dataclasses.asdict(result), "left": left}))
                out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
