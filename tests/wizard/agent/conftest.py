"""Fixtures of the agent's tests: a certificate for loopback, and TLS servers on loopback
addresses that answer as apiservers do (every answer names the address that answered)."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.deadlines import on_loaded_host

MASTERS = [f"127.0.0.{i}" for i in (11, 12, 13, 14)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path, name: str, subject_alt_names: str = "") -> None:
    """``folder/<name>.crt`` and ``.key``: an EC certificate signed by itself."""
    extra = ["-addext", f"subjectAltName={subject_alt_names}"] if subject_alt_names else []
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            *extra,
            "-keyout",
            folder / f"{name}.key",
            "-out",
            folder / f"{name}.crt",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    """server.crt / server.key for 127.0.0.1 and the masters' addresses, client.crt / client.key
    for a client that shows a certificate (each its own CA)."""
    folder = tmp_path_factory.mktemp("pki")
    self_signed(folder, "server", ",".join(f"IP:{a}" for a in ["127.0.0.1", *MASTERS]))
    self_signed(folder, "client")
    return folder


@pytest.fixture(scope="module")
def masters(pki):
    """Four TLS servers on 127.0.0.11-14, one port (returned): every answer names the address."""
    port = free_port()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    servers = []
    for address in MASTERS:

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            me = address

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = self.me.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((address, port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((server, thread))
    yield port
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# Clients through a balancer under test: which master answers, asked over TLS.


def ask(conn: http.client.HTTPSConnection) -> str:
    conn.request("GET", "/who")
    return conn.getresponse().read().decode()


def connect(port: int) -> http.client.HTTPSConnection:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=on_loaded_host(10), context=context
    )


def reached(port: int, tries: int) -> set[str]:
    seen = set()
    for _ in range(tries):
        conn = connect(port)
        try:
            seen.add(ask(conn))
        finally:
            conn.close()
    return seen


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + on_loaded_host(seconds)
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
