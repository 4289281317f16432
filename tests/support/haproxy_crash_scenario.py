"""A master's apiserver crashing and started again before it is ready (kubelet restarting a
static pod), behind kubeha's haproxy, with the real haproxy, in an empty network namespace.

Run as ``unshare -n python -m tests.support.haproxy_crash_scenario CONFIG CERT KEY SOCKET``:
three stand-in masters on 127.0.0.2-4:6443 (TLS), haproxy on CONFIG (its admin socket SOCKET),
a bounded loop of new-connection requests through 127.0.0.1:8443 (one every 0.05 s); 1 s in,
m1's listener closes (connections refused, as a killed process), RESTART_AFTER_S later it listens
again answering 500 to everything, /readyz included (an apiserver whose post-start hooks have
not finished), for the rest of the scenario. Prints one JSON object: the requests answered
500 by the restarted master, the failed ones, when haproxy marked m1 down. Every loop is bounded
in count and time; every server it starts is stopped.
"""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.haproxy_cut_scenario import (
    client_context,
    report,
    serve_tls,
    server_states,
    stop,
)

MASTERS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
LISTEN = ("127.0.0.1", 8443)
REQUESTS = 120  # one every 0.05 s
PACE_S = 0.05
CRASH_AT_S = 1.0
RESTART_AFTER_S = 2.0  # kubelet's restart of a crashed static pod: about a second, often more
CLIENT_TIMEOUT_S = 5.0


def serve(address: str, cert: str, key: str, status: int) -> ThreadingHTTPServer:
    """A stand-in apiserver answering every path with ``status`` and its address."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            body = address.encode()
            self.send_response(status)
            self.send_header("X-Master", address)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    # ThreadingHTTPServer sets SO_REUSEADDR: the restarted master listens again at once
    return serve_tls(ThreadingHTTPServer((address, 6443), Handler), cert, key)


def request() -> tuple[int | None, str]:
    """One request on a new connection: its status (None: no answer) and the answering master."""
    try:
        conn = http.client.HTTPSConnection(
            *LISTEN, timeout=CLIENT_TIMEOUT_S, context=client_context()
        )
        conn.request("GET", "/version")
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, response.getheader("X-Master", "")
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return None, ""


def main() -> None:
    config, cert, key, admin_socket = sys.argv[1:5]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    servers = [serve(address, cert, key, 200) for address in MASTERS]
    proxy = subprocess.Popen(["haproxy", "-db", "-f", config], stderr=subprocess.PIPE, text=True)
    result: dict = {}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                states = server_states(admin_socket)
                if [states.get(name) for name in ("m1", "m2", "m3")] == ["2"] * 3:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        outcomes: list[tuple[float, int | None, str]] = []

        def loop() -> None:
            for _ in range(REQUESTS):
                began = time.monotonic()
                status, master = request()
                outcomes.append((began, status, master))
                time.sleep(max(0.0, PACE_S - (time.monotonic() - began)))

        runner = threading.Thread(target=loop, daemon=True)
        runner.start()
        time.sleep(CRASH_AT_S)
        servers[0].shutdown()  # (its loop ends within 0.5 s; connections wait in the backlog)
        servers[
            0
        ].server_close()  # the listener gone: every connection refused, those waiting reset
        crashed_at = time.monotonic()  # a request begun before it was in flight at the crash
        marked_down = None
        restarted_at = None
        while runner.is_alive() and time.monotonic() < crashed_at + 30:
            now = time.monotonic()
            if restarted_at is None and now >= crashed_at + RESTART_AFTER_S:
                servers[0] = serve(MASTERS[0], cert, key, 500)  # listening, not ready
                restarted_at = now
            if marked_down is None and server_states(admin_socket).get("m1") == "0":
                marked_down = now - crashed_at
            time.sleep(0.05)
        runner.join(CLIENT_TIMEOUT_S * 2)
        after = [(status, master) for began, status, master in outcomes if began >= crashed_at]
        result = {
            "requests_after_crash": len(after),
            "answered_by_the_unready_master": sum(1 for s, _ in after if s == 500),
            "failed_after_crash": sum(1 for s, _ in after if s is None),
            "served_by_m1_before_the_crash": sum(
                1 for b, s, m in outcomes if b < crashed_at and m == MASTERS[0] and s == 200
            ),
            "marked_down_s": None if marked_down is None else round(marked_down, 2),
            "restarted": restarted_at is not None,
        }
    finally:
        stop(proxy, servers)
    report(result)


if __name__ == "__main__":
    main()
