"""Stand-in kube-apiservers for the all-masters-failing tests: ``python -m tests.support.standin_masters
CERT KEY CODES_DIR ADDRESS...`` serves TLS on ADDRESS:6443 for each address until killed.
``/readyz`` answers the status in CODES_DIR/ADDRESS (200 when the file is missing; 0: no answer,
the connection closed); CODES_DIR/ADDRESS.tls_delay holds seconds each TLS handshake waits
first (a slow node's TLS; each connection's handshake runs in its own thread), or, for a
client that shows a certificate, 200 when CODES_DIR/ADDRESS.authenticated says so (an apiserver
whose anonymous requests are refused but whose authenticated ones are read); every other path
answers 200 with an ``X-Master`` header naming the address. Run it inside a network namespace
of the test's own (``unshare -n``)."""

from __future__ import annotations

import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(address: str, cert: str, key: str, codes: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            code = 200
            if self.path == "/readyz":
                peer_cert = self.connection.getpeercert(binary_form=True)
                name = f"{address}.authenticated" if peer_cert else address
                path = codes / name
                code = int(path.read_text().strip()) if path.exists() else 200
                if code == 0:  # no answer at all: the connection closed without a response
                    self.close_connection = True
                    return
            body = address.encode()
            self.send_response(code)
            self.send_header("X-Master", address)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def setup(self):
            delay = codes / f"{address}.tls_delay"
            if delay.exists():
                time.sleep(float(delay.read_text().strip()))
            self.request.do_handshake()
            super().setup()

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a client gone mid-handshake: quiet
            pass

    server = Server((address, 6443), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # A client certificate is asked for, not required (as kube-apiserver does), and not
    # verified against a CA: the stand-in only needs to know that one was shown.
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cert)
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    cert, key, codes, *addresses = sys.argv[1:]
    for address in addresses:
        serve(address, cert, key, Path(codes))
    print("ready", flush=True)
    time.sleep(300)  # bounded: the test kills it long before


if __name__ == "__main__":
    main()
