"""A master's host vanishing and another master failing its check while it still answers, beside
the real session cutter, inside an empty network namespace (``unshare -n``: loopback only,
nothing can leave).

Run as ``unshare -n python -m tests.support.cutter_cut_scenario FILE CERT KEY CODES_DIR``: three
stand-in masters on 127.0.0.2-4:6443 (tests/support/standin_masters.py, /readyz answering what
CODES_DIR holds), FILE the rendered session cutter (its /run paths moved by the test). Once the
cutter has seen every master up, two TLS connections are opened to each of 127.0.0.3 and
127.0.0.4: a *watch* that never sends and a *busy* one that sends a byte every 0.1 s (a request
always in flight). Then 127.0.0.3 vanishes (an nftables drop: no TCP handshake, as a cut host)
and 127.0.0.4's /readyz answers 500 (it still completes the handshake, as a draining master).
Prints one JSON object: which connections were closed within LIMIT_S, and the cutter's log
(``log_before_cut``: what it said before the drop). An optional fifth argument, TLS_DELAY:
127.0.0.3's TLS handshakes wait that long (a slow node's TLS; the cutter settles for four
probes of it first). A sixth, ``mid-probe``: the drop waits until the cutter's probe of
127.0.0.3 has its TCP connection and waits on TLS (``ss -p``: curl's socket established), so the
probe under way fails after its handshake, not as silent.
Every loop is bounded in count and time; every process it starts is stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from tests.support.all_failing_scenario import MASTERS, stop, wait_port

SETTLE_S = 3.0
LIMIT_S = 25.0  # generous: the cutter needs FALL probes (one interval and two connect limits)
SILENT, ANSWERING = MASTERS[1], MASTERS[2]
TCP_ESTABLISHED = 1


def connect(address: str) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((address, 6443), 5)
    return context.wrap_socket(raw)


def established(sock: ssl.SSLSocket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_ESTABLISHED


def wait_for_a_probe(address: str, limit_s: float = 20.0) -> bool:
    """Until curl (the cutter's probe) has an established connection to ``address``:6443."""
    for _ in range(int(limit_s / 0.02)):  # bounded: limit_s at most
        found = subprocess.run(
            ["ss", "-tnpH", "state", "established", "dst", address, "dport", "= :6443"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        if '"curl"' in found:
            return True
        time.sleep(0.02)
    return False


def main() -> None:
    file, cert, key, codes = sys.argv[1:5]
    tls_delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    mid_probe = len(sys.argv) > 6 and sys.argv[6] == "mid-probe"
    if tls_delay:
        (Path(codes) / f"{SILENT}.tls_delay").write_text(f"{tls_delay}\n")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    standins = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin_masters", cert, key, codes, *MASTERS],
        stdout=subprocess.DEVNULL,
    )
    started: list[subprocess.Popen] = [standins]
    seen: dict[str, object] = {}
    try:
        for address in MASTERS:
            wait_port(address, 6443)
        log = open(Path(codes) / "cutter.log", "w")  # noqa: SIM115 - closed below
        # Its own process group, as systemd gives it: its stop kills its group (kill 0).
        cutter = subprocess.Popen(["sh", file], stderr=log, start_new_session=True)
        started.append(cutter)
        time.sleep(SETTLE_S + 4 * tls_delay)
        conns = {
            f"{name}_{kind}": connect(address)
            for name, address in (("silent", SILENT), ("answering", ANSWERING))
            for kind in ("watch", "busy")
        }
        rules = (
            "table inet cut {\n chain in {\n  type filter hook input priority 0;\n"
            f"  ip daddr {SILENT} tcp dport 6443 drop\n }}\n}}\n"
        )
        seen["log_before_cut"] = (Path(codes) / "cutter.log").read_text().splitlines()
        if mid_probe:
            seen["mid_probe"] = wait_for_a_probe(SILENT)
        subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=10)
        (Path(codes) / ANSWERING).write_text("500\n")
        closed_at: dict[str, float] = {}
        start = time.monotonic()
        for _ in range(int(LIMIT_S / 0.1)):  # bounded: LIMIT_S at most
            for name, sock in conns.items():
                if name in closed_at:
                    continue
                if name.endswith("_busy"):
                    with contextlib.suppress(OSError):
                        sock.send(b"x")
                if not established(sock):
                    closed_at[name] = round(time.monotonic() - start, 2)
            if {"silent_watch", "silent_busy", "answering_watch"} <= closed_at.keys():
                break
            time.sleep(0.1)
        seen["closed_s"] = closed_at
        seen["open"] = sorted(name for name in conns if name not in closed_at)
        cutter.terminate()
        cutter.wait(10)
        log.close()
        seen["log"] = (Path(codes) / "cutter.log").read_text().splitlines()
    finally:
        stop(started)
    print(json.dumps(seen))
    os._exit(0)


if __name__ == "__main__":
    main()
