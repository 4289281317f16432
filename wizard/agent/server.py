"""The agent's HTTP endpoint on the address and port the profile sets: ``/metrics`` (Prometheus
text, :mod:`wizard.agent.metrics`) and ``/healthz`` (200 ``ok`` while the node's balancer
answers, 503 with the reason otherwise, as kubespray's nginx-proxy serves on 8081).

It serves what the agent's loop last published (a string swapped whole under a lock), so a
scrape never waits for a check and never sees half a round.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Published:
    """The last round's scrape and health, swapped whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics = ""
        self._healthy, self._reason = False, "the agent has not finished its first round"

    def publish(self, metrics: str, healthy: bool, reason: str = "") -> None:
        with self._lock:
            self._metrics, self._healthy, self._reason = metrics, healthy, reason

    def read(self) -> tuple[str, bool, str]:
        with self._lock:
            return self._metrics, self._healthy, self._reason


def make_server(address: str, port: int, published: Published) -> ThreadingHTTPServer:
    """A server bound to ``address:port`` (not started: ``serve_forever`` in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "kubeha-agent"

        def do_GET(self) -> None:
            metrics, healthy, reason = published.read()
            if self.path == "/metrics":
                self._send(200, metrics, "text/plain; version=0.0.4; charset=utf-8")
            elif self.path == "/healthz":
                self._send(200 if healthy else 503, "ok\n" if healthy else f"{reason}\n")
            else:
                self._send(404, "not found: /metrics and /healthz are served\n")

        def _send(self, code: int, body: str, kind: str = "text/plain; charset=utf-8") -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # a scrape every few seconds is not news for the journal

    server = (_Server6 if ":" in address else ThreadingHTTPServer)((address, port), Handler)
    server.daemon_threads = True
    return server


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6
