"""The agent's check (wizard.agent.check) against a TLS server on loopback that answers as an
apiserver would for each auth mode: 200, 401 to anonymous, a certificate asked for, no answer."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wizard.agent.check import CheckSpec, check
from wizard.agent.roster import Member


@pytest.fixture
def apiserver(pki):
    """(member, answers): /readyz answers answers["anonymous"] without a client certificate,
    answers["cert"] with one."""
    answers = {"anonymous": 200, "cert": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            shown = self.connection.getpeercert(binary_form=True)
            code = answers["cert" if shown else "anonymous"]
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(pki / "client.crt")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield Member("127.0.0.1", server.server_address[1]), answers
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_anonymous_200_is_up(apiserver):
    member, _ = apiserver
    result = check(member, CheckSpec(timeout_s=10))
    assert result.up and result.status == 200 and result.seconds < 10


def test_anonymous_401_is_down_but_alive_on_401_takes_it(apiserver):
    member, answers = apiserver
    answers["anonymous"] = 401
    assert not check(member, CheckSpec(timeout_s=10)).up
    assert check(member, CheckSpec(timeout_s=10, auth="alive-on-401")).up


def test_client_cert_shows_the_nodes_certificate(apiserver, pki):
    member, answers = apiserver
    answers["anonymous"] = 401
    spec = CheckSpec(
        timeout_s=10,
        auth="client-cert",
        client_cert=str(pki / "client.crt"),
        client_key=str(pki / "client.key"),
    )
    assert check(member, spec).up


def test_no_answer_is_down_with_status_0():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = check(Member("127.0.0.1", port), CheckSpec(timeout_s=10))
    assert not result.up and result.status == 0 and result.error


def test_a_bad_auth_names_the_field():
    with pytest.raises(ValueError, match="auth: 'token'"):
        CheckSpec(auth="token")
