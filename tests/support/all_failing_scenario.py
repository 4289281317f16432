"""Every master failing its check on one node, with the real programs, inside an empty network
namespace (``unshare -n``: loopback only, nothing can leave).

Run as ``unshare -n python -m tests.support.all_failing_scenario KIND FILE CERT KEY CODES_DIR``: three
stand-in masters on 127.0.0.2-4:6443 (tests/support/standin_masters.py) whose /readyz answers what
CODES_DIR holds, then:

- ``cutter``: FILE is the rendered session cutter (its /run paths moved by the test); it runs as
  root for SETTLE_S, then connections as an unprivileged user (the proxy's) to each master say
  which ones it refuses; then master 127.0.0.2 answers 200 again and the same is asked again.
- ``haproxy``: FILE is a rendered haproxy config listening on 127.0.0.1:8443; after SETTLE_S,
  REQUESTS requests through it say which masters answered.

Prints one JSON object. Every loop is bounded in count and time; every process it starts is
stopped by PID."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

MASTERS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SETTLE_S = 4.0
REQUESTS = 12


def reach_as_nobody(address: str) -> bool:
    """A new TCP connection to ADDRESS:6443 from an unprivileged user (as nginx's workers)."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, 6443), 2).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
    return subprocess.run([*argv, code], timeout=20).returncode == 0


def through_proxy() -> str | None:
    """One request through 127.0.0.1:8443: the master that answered, None for no answer."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", 8443, timeout=5, context=context)
        conn.request("GET", "/version")
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.getheader("X-Master") if response.status == 200 else None
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return None


def wait_port(address: str, port: int, limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            socket.create_connection((address, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {address}:{port}")


def main() -> None:
    kind, file, cert, key, codes = sys.argv[1:6]
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
        if kind == "cutter":
            log = open(Path(codes) / "cutter.log", "w")  # noqa: SIM115 - closed below
            # Its own process group, as systemd gives it: its stop kills its group (kill 0).
            cutter = subprocess.Popen(["sh", file], stderr=log, start_new_session=True)
            started.append(cutter)
            time.sleep(SETTLE_S)
            seen["reached_all_failing"] = [m for m in MASTERS if reach_as_nobody(m)]
            seen["state_file_all_failing"] = (Path(codes) / "all-masters-failing").exists()
            (Path(codes) / MASTERS[0]).write_text("200\n")
            time.sleep(SETTLE_S)
            seen["reached_one_back"] = [m for m in MASTERS if reach_as_nobody(m)]
            seen["state_file_one_back"] = (Path(codes) / "all-masters-failing").exists()
            cutter.terminate()
            cutter.wait(10)
            log.close()
            seen["log"] = (Path(codes) / "cutter.log").read_text().splitlines()
        else:
            proxy = subprocess.Popen(
                ["haproxy", "-db", "-f", file], stderr=subprocess.PIPE, text=True
            )
            started.append(proxy)
            wait_port("127.0.0.1", 8443)
            time.sleep(SETTLE_S)
            answers = [through_proxy() for _ in range(REQUESTS)]
            seen["answered"] = sum(1 for a in answers if a)
            seen["requests"] = REQUESTS
            seen["masters_reached"] = sorted({a for a in answers if a})
            stats = Path(file).parent / "stats.sock"
            if stats.exists():  # local-haproxy: what `kubeha verify` reads there
                from wizard.strategies.local_haproxy import all_failing_from_stats

                csv = subprocess.run(
                    ["curl", "-s", "--max-time", "3", "--unix-socket", str(stats), "http://x/;csv"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                ).stdout
                seen["stats_all_failing"] = all_failing_from_stats(csv)
    finally:
        stop(started)
    print(json.dumps(seen))
    os._exit(0)


def stop(started: list[subprocess.Popen]) -> None:
    """Every process the scenario started, last first: terminated, killed after 10 s."""
    for process in reversed(started):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
