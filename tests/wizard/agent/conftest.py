"""Fixtures of the agent's tests: a certificate for loopback, and TLS servers on loopback
addresses that answer as apiservers do (every answer names the address that answered)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MASTERS = [f"127.0.0.{i}" for i in (11, 12, 13, 14)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    """cert.pem / key.pem for 127.0.0.1 and the masters' addresses (its own CA)."""
    folder = tmp_path_factory.mktemp("pki")
    names = ",".join(f"IP:{a}" for a in ["127.0.0.1", *MASTERS])
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
            "/CN=apiserver",
            "-addext",
            f"subjectAltName={names}",
            "-keyout",
            folder / "key.pem",
            "-out",
            folder / "cert.pem",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder


@pytest.fixture(scope="module")
def masters(pki):
    """Four TLS servers on 127.0.0.11-14, one port (returned): every answer names the address."""
    port = free_port()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "cert.pem", pki / "key.pem")
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
