"""Balance after a return, on real programs: local-haproxy's rendered haproxy in front of three
stand-in TLS masters on 127.0.0.2-4:6443, long-lived idle clients through it, and the node
agent's own rebalance step (``wizard.agent.__main__.rebalancer_of`` of the agent.json kubeha
renders: ``ss -tnpi`` to read, ``ss -K`` to close) against this kernel, inside an empty network
namespace (``unshare -n``: loopback only, nothing can leave).

Run as ``unshare -n python -m tests.support.rebalance_scenario BALANCER CONFIG AGENT_JSON CERT KEY
ADMIN_SOCK``: BALANCER haproxy (CONFIG its haproxy.cfg, ADMIN_SOCK its admin socket, read for
when it marks a master down and up) or nginx (CONFIG its kube-nginx.conf; no active checks: a
refused connect is retried on another master, and a master that refused waits out its
fail_timeout). The first master's listener is closed (the balancer marks it down); the clients
connect through haproxy, so every one lands on the other two: watches (a GET answered with a
chunked stream that stays open) and kept-alive connections (a GET answered, then quiet), and
SLOW clients whose request stays unanswered (in flight) until the end. The first master comes
back (haproxy marks it up), then the agent's step runs once a second, at most LIMIT_S. Every
client that sees its connection end reconnects and asks again. Prints one JSON object: the
connections per master (the clients' own view and the kernel's) before and after, what was
closed, the failed requests and whether an in-flight request lost its connection, also once
every connection the agent calls idle is closed at once (the sweep). Every loop is
bounded in count and time; every thread stops on one event; haproxy is stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.all_failing_scenario import MASTERS, stop, wait_port
from wizard.agent.__main__ import rebalancer_of
from wizard.agent.config import Rebalance, parse_config
from wizard.agent.rebalance import close, read_node
from wizard.agent.roster import Member

PROXY = ("127.0.0.1", 8443)
RETURNING = MASTERS[0]
WATCHES, KEPT_ALIVE, SLOW = 6, 6, 2
LIMIT_S = 90.0  # generous: two closes a second bring 14 connections within 1.25x in a few
STATE_LIMIT_S = 30.0
NGINX_FAIL_TIMEOUT_S = 10  # local-nginx's fail_timeout
stopping = threading.Event()
answer_slow = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _head(self, length: int | None) -> None:
        self.send_response(200)
        self.send_header("X-Master", self.server.server_address[0])  # type: ignore[index]
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _hold(self, until: threading.Event) -> bool:
        """Wait (bounded) for ``until`` while the peer keeps the connection; False: it left."""
        for _ in range(int(LIMIT_S * 3 / 0.2)):
            if until.is_set() or stopping.is_set():
                return True
            readable, _, _ = select.select([self.connection], [], [], 0.2)
            if readable:
                try:
                    if not self.connection.recv(1):
                        return False
                except (OSError, ssl.SSLError):
                    return False
        return True

    def do_GET(self) -> None:
        if self.path == "/watch":  # a stream: one event, then quiet while it stays open
            self._head(None)
            event = b'{"type":"ADDED"}\n'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            self._hold(stopping)
            self.close_connection = True
            return
        if self.path == "/slow" and not self._hold(answer_slow):
            self.close_connection = True
            return
        body = b"ok\n"
        self._head(len(body))
        self.wfile.write(body)


def serve(address: str, cert: str, key: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((address, 6443), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    ).start()
    return server


@dataclass
class Client:
    """One client of the node's balancer; reconnects and asks again whenever its connection ends."""

    kind: str  # "watch", "kept-alive" or "slow"
    master: str = ""  # where its open connection is answered ("": none now)
    answered: int = 0
    failed: int = 0
    ended: int = 0  # connections that ended after their answer (idle: the rebalance's)
    errors: list[str] = field(default_factory=list)

    def ask(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection(PROXY, 10)
        sock = context.wrap_socket(raw)
        if self.kind == "slow":  # a kept-alive connection, then a request that stays in flight
            self.master = self.request(sock, "/ok")
            self.request(sock, "/slow")
        else:
            self.master = self.request(sock, "/watch" if self.kind == "watch" else "/ok")
        return sock

    @staticmethod
    def request(sock: ssl.SSLSocket, path: str) -> str:
        """Its answer's master, once the answer (a watch's first event) is in."""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: kubernetes\r\n\r\n".encode())
        data = b""
        for _ in range(int(LIMIT_S * 3)):  # the slow one's answer comes at the end
            if data.endswith((b"}\n\r\n", b"\r\n\r\nok\n")):  # a watch's event, or "ok"
                break
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                if stopping.is_set():
                    raise
                continue
            if not chunk:
                raise ConnectionError(f"{path}: closed before the answer ({len(data)} bytes)")
            data += chunk
        head = data.split(b"\r\n\r\n")[0].decode()
        if not head.startswith("HTTP/1.1 200"):
            raise ConnectionError(f"{path}: answer {head.splitlines()[:1]}")
        return next(
            line.split(":", 1)[1].strip() for line in head.splitlines() if line.startswith("X-")
        )

    def run(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for _ in range(200):  # bounded: reconnections
            if stopping.is_set():
                return
            try:
                sock = self.ask(context)
            except (OSError, ssl.SSLError) as error:
                self.master = ""
                if stopping.is_set():
                    return
                self.failed += 1
                self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)
                continue
            self.answered += 1
            if self.kind == "slow":
                return  # answered at the end, as asked: it never lost its connection
            sock.settimeout(0.5)
            for _ in range(int(LIMIT_S * 4 / 0.5)):  # idle until it ends or the scenario does
                if stopping.is_set():
                    sock.close()
                    return
                try:
                    if not sock.recv(4096):
                        break
                except TimeoutError:
                    continue
                except (OSError, ssl.SSLError):
                    break
            self.master = ""
            self.ended += 1
            sock.close()


def server_states(admin: str) -> dict[str, str]:
    """haproxy's checked servers' status (``show stat`` on its admin socket), by address."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(admin)
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode().splitlines() if line and line[0] != "#"]
    by_name = {f"m{i}": address for i, address in enumerate(MASTERS, 1)}
    return {by_name[r[1]]: r[17] for r in rows if len(r) > 17 and r[1] in by_name}


def wait_state(admin: str, address: str, status: str) -> float:
    start = time.monotonic()
    for _ in range(int(STATE_LIMIT_S / 0.2)):
        if server_states(admin).get(address, "").startswith(status):
            return time.monotonic() - start
        time.sleep(0.2)
    raise SystemExit(f"haproxy never marked {address} {status}: {server_states(admin)}")


def spread(clients: list[Client]) -> dict[str, int]:
    counts = dict.fromkeys(MASTERS, 0)
    for client in clients:
        if client.master:
            counts[client.master] += 1
    return counts


def kernel_spread(
    members: tuple[Member, ...], process: str, clients: int | None = None
) -> dict[str, int]:
    """The balancer's connections per master, as the agent reads them from the kernel. With
    ``clients``, read again (at most 20 times, 0.1 s apart) while the kernel shows more: a
    health check the balancer has open to a master for a few milliseconds is no client (CI
    caught one: 15 connections for 14 clients)."""
    for _ in range(20):
        counts = dict.fromkeys(MASTERS, 0)
        for conn in read_node(members, process):
            counts[conn.master.address] += 1
        if clients is None or sum(counts.values()) <= clients:
            break
        time.sleep(0.1)
    return counts


def balanced(counts: dict[str, int], ratio: float) -> bool:
    high, low = max(counts.values()), min(counts.values())
    return high <= max(ratio * low, low + 1)


def main() -> None:
    balancer, balancer_cfg, agent_json, cert, key, admin = sys.argv[1:7]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    config = parse_config(Path(agent_json).read_text())  # the agent's own reader
    wanted = config.rebalance or Rebalance()  # without it the agent closes nothing
    step = rebalancer_of(config) or (lambda up: 0)
    members = tuple(config.seed)
    servers = {address: serve(address, cert, key) for address in MASTERS}
    started: list[subprocess.Popen[bytes]] = []
    seen: dict[str, object] = {}
    try:
        for address in MASTERS:
            wait_port(address, 6443)
        if balancer == "haproxy":
            started.append(subprocess.Popen(["haproxy", "-db", "-f", balancer_cfg]))
        else:
            folder = str(Path(balancer_cfg).parent) + "/"
            command = ["nginx", "-c", balancer_cfg, "-p", folder, "-g", "daemon off;"]
            started.append(subprocess.Popen(command))
        wait_port(*PROXY)
        if balancer == "haproxy":
            for address in MASTERS:
                wait_state(admin, address, "UP")
        servers[RETURNING].shutdown()  # its listener closed: the master is down
        servers[RETURNING].server_close()
        if balancer == "haproxy":
            wait_state(admin, RETURNING, "DOWN")
        clients = [
            Client(kind)
            for kind, count in (("watch", WATCHES), ("kept-alive", KEPT_ALIVE), ("slow", SLOW))
            for _ in range(count)
        ]
        threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for _ in range(int(STATE_LIMIT_S / 0.2)):
            if all(c.master for c in clients):
                break
            time.sleep(0.2)
        seen["before"] = spread(clients)
        servers[RETURNING] = serve(RETURNING, cert, key)  # back
        if balancer == "haproxy":
            seen["returned_after_s"] = round(wait_state(admin, RETURNING, "UP"), 1)
        else:
            time.sleep(NGINX_FAIL_TIMEOUT_S + 1)  # nginx tries a master that refused again
        time.sleep(1.5)  # every connection idle for the agent's idle time
        seen["kernel_before"] = kernel_spread(members, wanted.process)
        closed, rounds, start = 0, 0, time.monotonic()
        ratio = wanted.ratio
        for _ in range(int(LIMIT_S)):  # one step a round, as the agent's loop
            rounds += 1
            closed += step(members)
            time.sleep(config.interval_s)
            now = spread(clients)
            if (
                all(c.master for c in clients)
                and balanced(now, ratio)
                and balanced(kernel_spread(members, wanted.process, len(clients)), ratio)
            ):
                break
        seen["balanced_after_s"] = round(time.monotonic() - start, 1)
        seen["rounds"] = rounds
        seen["closed"] = closed
        seen["after"] = spread(clients)
        seen["kernel_after"] = kernel_spread(members, wanted.process, len(clients))
        seen["all_connected"] = all(c.master for c in clients)
        seen["slow_on"] = [c.master for c in clients if c.kind == "slow"]
        # The hardest case for the requests in flight: every connection the agent's reading of
        # the kernel calls idle, on every master, closed at once; the in-flight ones must stay.
        time.sleep(1.5)
        conns = read_node(members, wanted.process)
        idle = [c for c in conns if c.idle(wanted.idle_ms)]
        seen["swept"] = sum(1 for c in idle if close(c))
        seen["not_idle"] = len(conns) - len(idle)
        for _ in range(int(STATE_LIMIT_S / 0.2)):
            time.sleep(0.2)
            if (
                all(c.master for c in clients)
                and sum(kernel_spread(members, wanted.process).values()) >= 14
            ):
                break
        seen["all_connected_after_sweep"] = all(c.master for c in clients)
        answer_slow.set()  # the in-flight requests are answered now, on the connection they had
        for thread, client in zip(threads, clients, strict=True):
            if client.kind == "slow":
                thread.join(30)
        seen["slow_answered"] = sum(c.answered for c in clients if c.kind == "slow")
        seen["slow_failed"] = sum(c.failed for c in clients if c.kind == "slow")
        seen["failed"] = sum(c.failed for c in clients)
        seen["ended"] = sum(c.ended for c in clients)
        seen["answered"] = sum(c.answered for c in clients)
        seen["errors"] = [e for c in clients for e in c.errors][:10]
        stopping.set()
    finally:
        stopping.set()
        stop(started)
        for server in servers.values():
            with contextlib.suppress(OSError):
                server.server_close()
    print(json.dumps(seen))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
