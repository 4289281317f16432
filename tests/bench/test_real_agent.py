"""bench/real_agent.py reads a node's kubeconfig whether its credentials are inline (the binary
lab's, kubeadm's admin.conf) or files it names (a kubeadm worker's kubelet.conf)."""

from __future__ import annotations

import base64
from pathlib import Path

from bench.real_agent import read_kubeconfig


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
