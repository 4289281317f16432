"""The probe through a node's load balancer (apply's verify, ``kubeha verify``): the CA it checks
against when none is named (kubeadm's, then a kubeconfig's own, else none and it says so), a
CA path that is not a regular file refused at once (a FIFO hung curl past its --max-time), and
the check's credentials. Run for real: curl against openssl s_server in an empty network
namespace."""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wizard.engine.probe import ProbeSettings, ca_used, probe_script, refusal_message
from wizard.engine.verify import parse_probe

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "openssl", "curl")),
    reason="needs root, unshare, openssl and curl",
)
URL = "https://127.0.0.1:9443/readyz"


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ca")
    cert, key = folder / "ca.crt", folder / "ca.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=kube-apiserver", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def run(script: str, tls) -> tuple[subprocess.CompletedProcess[str], float]:
    cert, key = tls
    shell = (
        "ip link set lo up; "
        f"openssl s_server -quiet -accept 127.0.0.1:9443 -cert {cert} -key {key} -www "
        ">/dev/null 2>&1 & server=$!; "
        "i=0; until ss -Hltn 'sport = :9443' | grep -q . || [ $i -ge 100 ]; do sleep 0.05; "
        "i=$((i+1)); done; "
        f"( {script} ); rc=$?; kill $server; exit $rc"
    )
    began = time.monotonic()
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell], capture_output=True, text=True, timeout=60
    )
    return result, time.monotonic() - began


@needs_netns
def test_kubeadm_ca_is_used_when_none_is_named(tmp_path, tls):
    settings = ProbeSettings(ca_candidates=(str(tls[0]),), kubeconfigs=())
    result, _ = run(probe_script(URL, 5, settings), tls)
    assert ca_used(result.stdout) == (str(tls[0]), None), result.stdout
    ok, status, *_ = parse_probe(result.stdout, result.stderr, result.returncode)
    assert ok and status == "200", result.stdout + result.stderr


@needs_netns
def test_a_kubeconfigs_embedded_ca_is_used_without_writing_it(tmp_path, tls):
    data = base64.b64encode(tls[0].read_bytes()).decode()
    kubeconfig = tmp_path / "kubelet.conf"
    kubeconfig.write_text(
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {data}\n    server: https://127.0.0.1:6443\n"
        "  name: kubernetes\n"
    )
    settings = ProbeSettings(
        ca_candidates=(str(tmp_path / "absent.crt"),), kubeconfigs=(str(kubeconfig),)
    )
    result, _ = run(probe_script(URL, 5, settings), tls)
    assert ca_used(result.stdout)[0] == f"{kubeconfig} (its embedded CA)", result.stdout
    assert parse_probe(result.stdout, result.stderr, result.returncode)[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubelet.conf"]  # nothing written


@needs_netns
def test_a_wrong_ca_refuses_the_certificate(tmp_path, tls):
    other = tmp_path / "other.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=other", "-keyout", str(tmp_path / "o.key"), "-out", str(other)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result, _ = run(probe_script(URL, 5, ProbeSettings(ca_file=str(other))), tls)
    assert result.returncode == 60, result.stderr


@needs_netns
@pytest.mark.parametrize("named", [True, False], ids=["named", "kubeadm-path"])
def test_a_fifo_ca_is_refused_at_once_naming_it(tmp_path, tls, named):
    """Before: curl read the FIFO and hung past --max-time (the row never came back)."""
    fifo = tmp_path / "ca.crt"
    os.mkfifo(fifo)
    settings = (
        ProbeSettings(ca_file=str(fifo)) if named else ProbeSettings(ca_candidates=(str(fifo),))
    )
    result, seconds = run(f"timeout 20 sh -c {shlex.quote(probe_script(URL, 2, settings))}", tls)
    assert seconds < 15, "the probe waited on the FIFO"
    used, refused = ca_used(result.stdout)
    assert used is None and refused == ("FIFO", str(fifo)), result.stdout
    assert refusal_message("w1", refused) == (
        f"w1: CA file {fifo} is a FIFO, expected a regular file (curl would hang on a FIFO)"
    )


@needs_netns
def test_no_ca_anywhere_says_so(tmp_path, tls):
    settings = ProbeSettings(ca_candidates=(str(tmp_path / "absent.crt"),), kubeconfigs=())
    result, _ = run(probe_script(URL, 5, settings), tls)
    assert ca_used(result.stdout) == (None, None)
    assert parse_probe(result.stdout, result.stderr, result.returncode)[0]


def test_alive_on_401_counts_an_answer_and_says_readiness_is_not_read():
    out = "CA -\nRESULT 401 0.01\n"
    assert parse_probe(out, "", 0)[:2] == (False, "HTTP 401")
    ok, status, *_ = parse_probe(out, "", 0, ("200", "401", "403"))
    assert ok and status == "HTTP 401 (alive, readiness not readable)"


def test_client_cert_goes_on_the_curl():
    script = probe_script(URL, 5, ProbeSettings(curl_auth="--cert /var/lib/kubelet/pki/x.pem"))
    assert "--cert /var/lib/kubelet/pki/x.pem" in script
