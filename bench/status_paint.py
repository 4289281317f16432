"""How long ``kubeha status`` takes to paint a fleet: ``python -m bench.status_paint [--nodes 500]
[--rounds 5]``. Issue 25's target: 500 nodes x 3 masters painted within 2 s.

One HTTP server on loopback answers every node's ``/metrics`` with what a real agent renders
(wizard.agent.metrics, three masters, one down); the nodes are that many targets in front of it,
read over HTTP by ``kubeha status``'s own reader (wizard.status.fleet.read_fleet, its default
concurrency) and painted by its own Textual app (screens.status.StatusApp, headless). A round
times the app's start to its first painted table, and apart the read alone; medians and spreads
over the rounds. Loopback only; the server is stopped at the end."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from screens.status import StatusApp
from wizard.agent.metrics import NodeFigures, render
from wizard.agent.roster import Member, Roster
from wizard.status.fleet import NodeStatus, Target, read_fleet

MASTERS = tuple(Member(f"10.77.0.{11 + i}", 6443) for i in range(3))


def metrics_text() -> str:
    node = NodeFigures(Roster.seeded(list(MASTERS)), balancer_up=True)
    for i, member in enumerate(MASTERS):
        figures = node.figures(member)
        figures.checked, figures.up, figures.connections = True, i != 1, 5 + i
    return render(node)


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # 64 reads at once: the default backlog of 5 drops SYNs
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def first_paint(reader: Callable[[], list[NodeStatus]]) -> float:
    """Seconds from the app's start to its first painted table."""

    async def run() -> float:
        started = time.perf_counter()
        app = StatusApp(reader, "bench", interval_s=3600)
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(2000):  # bounded: 2000 x 10 ms
                if app.painted:
                    return time.perf_counter() - started
                await pilot.pause(0.01)
        raise RuntimeError("the status table was not painted within 20 s")

    return asyncio.run(run())


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status_paint", description=__doc__)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    server = serve(metrics_text().encode())
    port = server.server_address[1]
    targets = [Target(f"w{i}", "127.0.0.1", port) for i in range(args.nodes)]
    try:
        reads, paints = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            statuses: list[NodeStatus] = read_fleet(targets)
            reads.append(time.perf_counter() - started)
            unread = [s.node for s in statuses if not s.ok]
            if unread:
                raise RuntimeError(f"{len(unread)} node(s) unread, e.g. {unread[:3]}")
            paints.append(first_paint(lambda: read_fleet(targets)))
    finally:
        server.shutdown()
        server.server_close()
    print(f"{args.nodes} nodes x {len(MASTERS)} masters, {args.rounds} rounds")
    print(f"read every node's /metrics: {spread(reads)}")
    print(f"kubeha status: start to the first painted table: {spread(paints)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
