"""A master's host vanishing behind kubeha's local haproxy, with the real haproxy, inside an
empty network namespace (``unshare -n``: loopback only, nothing can leave).

Run as ``unshare -n python -m tests.support.haproxy_cut_scenario CONFIG CERT KEY``: three stand-in
masters on 127.0.0.2-4:6443 (TLS; /readyz, /version and a /watch stream that sends a line every
0.2 s), haproxy on CONFIG, three watches (one per master), a kept-alive client and a bounded
loop of new-connection requests through 127.0.0.1:8443; the master the kept-alive client landed
on is then cut by an nftables drop, as a host that vanished. Prints one JSON object with what the clients saw. Every loop is
bounded in count and time; every process it starts is stopped by PID.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MASTERS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
LISTEN = ("127.0.0.1", 8443)
REQUESTS = 60  # one every 0.1 s
WATCH_LIMIT_S = 15.0
CLIENT_TIMEOUT_S = 5.0  # a request client gives up after this (the failure tcp-ut avoids)


def serve(address: str, cert: str, key: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path == "/watch":
                self.send_response(200)
                self.send_header("X-Master", address)
                self.send_header("Connection", "close")
                self.end_headers()
                end = time.monotonic() + WATCH_LIMIT_S
                try:
                    while time.monotonic() < end:
                        self.wfile.write(b"event\n")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
                self.close_connection = True
                return
            body = b"ok" if self.path == "/readyz" else address.encode()
            self.send_response(200)
            self.send_header("X-Master", address)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return serve_tls(ThreadingHTTPServer((address, 6443), Handler), cert, key)


def serve_tls(server: ThreadingHTTPServer, cert: str, key: str) -> ThreadingHTTPServer:
    """``server`` over TLS with ``cert`` and ``key``, serving in a daemon thread from now on."""
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Watch:
    """A watch through the proxy: which master it landed on, and when it ended."""

    def __init__(self) -> None:
        raw = socket.create_connection(LISTEN, timeout=5)
        self.sock = client_context().wrap_socket(raw)
        self.sock.sendall(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
        self.sock.settimeout(0.5)
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1024)
        self.master = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"x-master:")
        )
        self.ended: float | None = None
        self.last_event = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        end = time.monotonic() + WATCH_LIMIT_S
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                self.ended = time.monotonic()
                return
            self.last_event = time.monotonic()


def request() -> tuple[bool, float]:
    began = time.monotonic()
    try:
        conn = http.client.HTTPSConnection(
            *LISTEN, timeout=CLIENT_TIMEOUT_S, context=client_context()
        )
        conn.request("GET", "/version")
        ok = conn.getresponse().status == 200
        conn.close()
    except (OSError, ssl.SSLError, http.client.HTTPException):
        ok = False
    return ok, time.monotonic() - began


class KeptAlive:
    """A client on one kept-alive connection (as client-go), a request every 0.1 s; a request
    whose connection ends before any answer is sent again on a new one (as Go's transport does
    for an idempotent request). Records (start, ok, seconds) per request."""

    def __init__(self) -> None:
        self.conn = self._connect()
        self.master = self._ask()[1]
        self.outcomes: list[tuple[float, bool, float]] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def _connect() -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            *LISTEN, timeout=CLIENT_TIMEOUT_S, context=client_context()
        )

    def _ask(self) -> tuple[bool, str]:
        self.conn.request("GET", "/version")
        response = self.conn.getresponse()
        response.read()
        return response.status == 200, response.getheader("X-Master", "")

    def _loop(self) -> None:
        for _ in range(REQUESTS):
            began = time.monotonic()
            try:
                ok = self._ask()[0]
            except (OSError, ssl.SSLError, http.client.HTTPException):
                self.conn.close()
                self.conn = self._connect()
                try:
                    ok = self._ask()[0]
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    ok = False
            took = time.monotonic() - began
            self.outcomes.append((began, ok, took))
            time.sleep(max(0.0, 0.1 - took))


def server_states(admin_socket: str) -> dict[str, str]:
    """name -> operational state (0 down, 2 up) from haproxy's stats socket."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(admin_socket)
        sock.sendall(b"show servers state kube-apiserver\n")
        text = b""
        while chunk := sock.recv(65536):
            text += chunk
    states = {}
    for line in text.decode().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "kube-apiserver":
            states[parts[3]] = parts[5]
    return states


def nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True, timeout=10)


def main() -> None:
    config, cert, key, admin_socket = sys.argv[1:5]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    servers = [serve(address, cert, key) for address in MASTERS]
    proxy = subprocess.Popen(["haproxy", "-db", "-f", config], stderr=subprocess.PIPE, text=True)
    result: dict = {}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                checked = {  # the unchecked backups (never every master out) are always up
                    n: v for n, v in server_states(admin_socket).items() if "unchecked" not in n
                }
                if list(checked.values()) == ["2"] * len(MASTERS):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        watches = [Watch() for _ in MASTERS]  # leastconn: one on each master
        kept = KeptAlive()
        victim = kept.master
        [victim_watch] = [w for w in watches if w.master == victim]
        name = f"m{MASTERS.index(victim) + 1}"
        outcomes: list[tuple[float, bool, float]] = []

        def loop() -> None:
            for _ in range(REQUESTS):
                began = time.monotonic()
                ok, took = request()
                outcomes.append((began, ok, took))
                time.sleep(max(0.0, 0.1 - took))

        runner = threading.Thread(target=loop, daemon=True)
        runner.start()
        time.sleep(1.0)
        cut_at = time.monotonic()
        nft(
            "table inet scenario { chain out { type filter hook output priority 0; "
            f"ip daddr {victim} tcp dport 6443 drop; ip saddr {victim} tcp sport 6443 drop; }}; }}"
        )
        marked_down = None
        while time.monotonic() < cut_at + 6:
            if marked_down is None and server_states(admin_socket).get(name) == "0":
                marked_down = time.monotonic() - cut_at
            time.sleep(0.1)
        runner.join(30)
        kept.thread.join(30)
        after = [(ok, took) for began, ok, took in outcomes if began >= cut_at]
        kept_bad = [
            (began, ok, took)
            for began, ok, took in kept.outcomes
            if began + took > cut_at and (not ok or took > 1.0)
        ]
        result = {
            "victim": name,
            "watch_masters": [w.master for w in watches],
            "victim_watch_ended_s": None
            if victim_watch.ended is None
            else round(victim_watch.ended - cut_at, 2),
            "other_watches_alive": [w.ended is None for w in watches if w.master != victim],
            "marked_down_s": None if marked_down is None else round(marked_down, 2),
            "requests_after_cut": len(after),
            "failed_after_cut": sum(1 for ok, _ in after if not ok),
            "slowest_after_cut_s": round(max((t for _, t in after), default=0.0), 2),
            "kept_alive_requests": len(kept.outcomes),
            "kept_alive_failed": sum(1 for _, ok, _ in kept_bad if not ok),
            "kept_alive_back_s": round(
                max((b + t - cut_at for b, _, t in kept_bad), default=0.0), 2
            ),
        }
    finally:
        stop(proxy, servers)
    report(result)


def stop(proxy: subprocess.Popen, servers: list[ThreadingHTTPServer]) -> None:
    """haproxy stopped (killed after 10 s), then every stand-in master."""
    proxy.terminate()
    try:
        proxy.wait(10)
    except subprocess.TimeoutExpired:
        proxy.kill()
    for server in servers:
        server.shutdown()


def report(result: dict) -> None:
    """The scenario's one JSON line, then the process ends (the stand-in masters' daemon
    threads with it)."""
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
