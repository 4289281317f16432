"""A stand-in kube-apiserver for kubeha's lab masters (runs inside the node, on python3).

HTTPS on [::]:6443 (both families; 0.0.0.0:6443 where the node has no IPv6) with the lab CA's
certificate. /healthz, /readyz and /livez answer ``ok``
with an ``X-Lab-Master`` header naming this master; /whoami answers the master's name,
/lab/watches the number of watch streams open now; the pods
watch (``/api/v1/namespaces/default/pods?watch=true``) streams one JSON event per second until
the client goes away. Threaded, quiet.

SIGTERM drains it the way a real kube-apiserver with ``--shutdown-delay-duration`` stops (the
way upgrades stop one): /readyz fails at once while every request, watches included, is still
served for ``LAB_SHUTDOWN_DELAY`` seconds (default 6); then the listener closes, every watch
stream ends cleanly, and the process exits.
"""

import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CERT = "/etc/kubeha-lab/apiserver.crt"
KEY = "/etc/kubeha-lab/apiserver.key"
PORT = 6443
NAME = socket.gethostname()
SHUTDOWN_DELAY = float(os.environ.get("LAB_SHUTDOWN_DELAY", "6"))
DRAINING = threading.Event()  # SIGTERM came: /readyz fails, everything else is served
STOPPING = threading.Event()  # the delay is over: watches end, the listener closes
WATCHES = [0]  # watch streams open now (GET /lab/watches), under WATCHES_LOCK
WATCHES_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-lab"

    def log_message(self, format, *args):  # quiet
        pass

    def _send(self, code, body, content_type="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Lab-Master", NAME)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/readyz" and DRAINING.is_set():
            self._send(500, "[-]shutdown failed: reason withheld\nreadyz check failed\n")
        elif url.path in ("/healthz", "/readyz", "/livez"):
            self._send(200, "ok")
        elif url.path == "/lab/watches":
            with WATCHES_LOCK:
                self._send(200, f"{WATCHES[0]}\n")
        elif url.path == "/whoami":
            self._send(200, NAME + "\n")
        elif url.path == "/version":
            self._send(
                200, json.dumps({"gitVersion": "v0.0.0-lab", "master": NAME}), "application/json"
            )
        elif url.path == "/api/v1/namespaces/default/pods":
            if parse_qs(url.query).get("watch", [""])[0] in ("true", "1"):
                self._watch()
            else:
                self._send(
                    200,
                    json.dumps({"kind": "PodList", "items": [], "master": NAME}),
                    "application/json",
                )
        else:
            self._send(404, "not found\n")

    def _watch(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Lab-Master", NAME)
        self.end_headers()
        seq = 0
        with WATCHES_LOCK:
            WATCHES[0] += 1
        try:
            while not STOPPING.is_set():
                seq += 1
                event = {
                    "type": "MODIFIED",
                    "object": {"kind": "Pod", "metadata": {"name": f"lab-{seq}"}, "master": NAME},
                }
                line = (json.dumps(event) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                STOPPING.wait(1)
            self.wfile.write(b"0\r\n\r\n")  # the server's end of the stream: a clean close
            self.wfile.flush()
        except OSError:
            pass
        finally:
            with WATCHES_LOCK:
                WATCHES[0] -= 1
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    address_family = socket.AF_INET6

    def handle_error(self, request, client_address):  # quiet: clients vanish all the time
        pass

    def server_bind(self):
        # One socket for both families (IPv4 clients arrive as ::ffff:a.b.c.d): a dual-stack
        # lab's masters answer on their IPv6 address too.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Server4(Server):
    address_family = socket.AF_INET

    def server_bind(self):
        ThreadingHTTPServer.server_bind(self)


def make_server():
    """The dual-stack listener on [::]:PORT; 0.0.0.0:PORT where the node has no IPv6."""
    try:
        return Server(("::", PORT), Handler)
    except OSError:
        return Server4(("0.0.0.0", PORT), Handler)


def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, KEY)
    server = make_server()

    # Handshake in the handler thread: a slow or failed handshake only loses that client.
    original_get_request = server.get_request

    def get_request():
        sock, addr = original_get_request()
        sock.settimeout(30)
        return sock, addr

    server.get_request = get_request
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )

    class HandshakingHandler(Handler):
        def setup(self):
            self.request.do_handshake()
            self.request.settimeout(None)
            super().setup()

    server.RequestHandlerClass = HandshakingHandler

    def drain():
        print(f"draining: /readyz fails for {SHUTDOWN_DELAY:g} s", file=sys.stderr, flush=True)
        time.sleep(SHUTDOWN_DELAY)
        STOPPING.set()
        server.shutdown()  # serve_forever returns; the listener closes below

    def on_term(signum, frame):
        if not DRAINING.is_set():
            DRAINING.set()
            threading.Thread(target=drain, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    print(f"kube-apiserver-lab on :{PORT} as {NAME}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()
    time.sleep(0.5)  # the watch streams write their last chunk
    print("drained: listener closed", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
