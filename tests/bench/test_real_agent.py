"""bench/real_agent.py reads a node's kubeconfig whether its credentials are inline (the binary
lab's, kubeadm's admin.conf) or files it names (a kubeadm worker's kubelet.conf), and its client
does not send a request into a connection the server closed while it was idle."""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from bench.real_agent import Client, read_kubeconfig
from tests.support.netns_scenario import self_signed


def test_inline_and_file_credentials(tmp_path: Path) -> None:
    ca, pem = "-----CA-----\n", "-----CERT-----\n-----KEY-----\n"
    inline = tmp_path / "admin.conf"
    inline.write_text(
        "clusters:\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(ca.encode()).decode()}\n"
        "    server: https://10.77.0.100:8443\n"
        "users:\n- user:\n"
        f"    client-certificate-data: {base64.b64encode(b'cert').decode()}\n"
        f"    client-key-data: {base64.b64encode(b'key').decode()}\n"
    )
    assert read_kubeconfig(str(inline)) == ("https://10.77.0.100:8443", ca, "cert", "key")
    (tmp_path / "ca.crt").write_text(ca)
    (tmp_path / "current.pem").write_text(pem)
    files = tmp_path / "kubelet.conf"
    files.write_text(
        "clusters:\n- cluster:\n"
        f"    certificate-authority: {tmp_path}/ca.crt\n"
        "    server: https://127.0.0.1:8443\n"
        "users:\n- user:\n"
        f"    client-certificate: {tmp_path}/current.pem\n"
        f"    client-key: {tmp_path}/current.pem\n"
    )
    assert read_kubeconfig(str(files)) == ("https://127.0.0.1:8443", ca, pem, pem)


@pytest.mark.parametrize("close", ["fin", "close_notify"])
def test_a_connection_the_server_closed_while_idle_is_not_used_again(tmp_path: Path, close):
    """An apiserver shutting down closes its idle kept-alive connections; the writer's next
    PATCH went into the closed one and failed, where Go's transport (client-go) would have seen
    the close on its idle connection and used a new one. Against a TLS server on loopback that
    answers one request per connection and then closes it while idle."""
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def serve() -> None:
        for _ in range(2):
            raw, _ = listener.accept()
            accepted.append(1)
            # the client's end of a closed connection may reset it: this server only counts
            with (
                contextlib.suppress(OSError),
                server_ctx.wrap_socket(raw, server_side=True) as conn,
            ):
                request = b""
                while not request.endswith(b"{}"):  # the headers, then the body
                    request += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                time.sleep(0.2)  # idle, then closed by the server
                if close == "close_notify":  # sent, not waited on (as Go's Close does)
                    conn.setblocking(False)
                    with contextlib.suppress(ssl.SSLWantReadError):
                        conn.unwrap()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client = Client([f"https://127.0.0.1:{port}"], client_ctx, 5)
    try:
        assert client.request("PATCH", "/x", b"{}")[0] == 200
        time.sleep(0.6)  # the server has closed it by now
        assert client.request("PATCH", "/x", b"{}")[0] == 200
        assert len(accepted) == 2
    finally:
        listener.close()
