"""The agent as the nodes run it: the zip application, started by python3 with a JSON config,
watching an API on loopback that serves the default/kubernetes Endpoints as the apiserver does
(a list, then a watch stream of events; 401 without the token), checking TLS masters on
loopback and serving /metrics. A master the cluster adds is taken, one it drops but that still
answers is drained, a refused token changes nothing, SIGTERM ends it."""

from __future__ import annotations

import json
import os
import queue
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.deadlines import on_loaded_host
from tests.wizard.agent.conftest import MASTERS, free_port
from wizard.agent.metrics import parse
from wizard.agent_bundle import bundle

TOKEN = "agent-token-for-tests"


def endpoints(addresses, port, version):
    return {
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": str(version)},
        "subsets": [
            {
                "addresses": [{"ip": a} for a in addresses],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }
        ],
    }


class FakeApi:
    """The Endpoints of one cluster: ``set(addresses)`` changes them and tells every watch."""

    def __init__(self, port_of_masters: int) -> None:
        self.port = port_of_masters
        self.version = 100
        self.object = endpoints(MASTERS[:1], port_of_masters, self.version)
        self.watches: list[queue.Queue] = []
        self.token = TOKEN
        self.lock = threading.Lock()

    def set(self, addresses) -> None:
        with self.lock:
            self.version += 1
            self.object = endpoints(addresses, self.port, self.version)
            event = json.dumps({"type": "MODIFIED", "object": self.object}).encode() + b"\n"
            for watch in self.watches:
                watch.put(event)

    def end_watches(self) -> None:
        """The server ends every open watch (as an apiserver does at its timeout)."""
        with self.lock:
            for watch in self.watches:
                watch.put(None)
            self.watches.clear()


@pytest.fixture
def api(pki, masters):
    fake = FakeApi(masters)
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self.send_response(401)
                self.end_headers()
                return
            if "watch=1" not in self.path:
                with fake.lock:
                    body = json.dumps(fake.object).encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)
                return
            events: queue.Queue = queue.Queue()
            with fake.lock:
                fake.watches.append(events)
            self.send_response(200)
            self.end_headers()
            self.wfile.flush()
            deadline = time.monotonic() + on_loaded_host(120)
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    event = events.get(timeout=0.2)
                    if event is None:
                        break
                    self.wfile.write(event)
                    self.wfile.flush()
                except queue.Empty:
                    continue
                except OSError:
                    break

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake, server.server_address[1]
    stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def agent(tmp_path, pki, masters, api):
    _, api_port = api
    (tmp_path / "token").write_text(TOKEN)
    metrics_port = free_port()
    config = {
        "seed": [{"address": MASTERS[0], "port": masters}],
        "check": {"path": "/readyz", "timeout_s": 5, "auth": "anonymous"},
        "interval_s": 0.2,
        "balancer": "none",
        "listen": {"address": "127.0.0.1", "port": metrics_port},
        "discovery": {
            "host": "127.0.0.1",
            "port": api_port,
            "ca_file": str(pki / "server.crt"),
            "token_file": str(tmp_path / "token"),
        },
        "add_after_s": 0.2,
        "remove_after_s": 0.5,
    }
    (tmp_path / "agent.json").write_text(json.dumps(config))
    (tmp_path / "agent.pyz").write_bytes(bundle())
    log = (tmp_path / "agent.log").open("wb")
    process = subprocess.Popen(
        ["python3", str(tmp_path / "agent.pyz"), "--config", str(tmp_path / "agent.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    yield process, f"http://127.0.0.1:{metrics_port}", tmp_path / "agent.log"
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    log.close()


def scrape(base: str) -> dict[str, dict[str, float]]:
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
            return parse(answer.read().decode())
    except OSError:
        return {}


def wait_for(condition, seconds: float, what: str, log) -> None:
    deadline = time.monotonic() + on_loaded_host(seconds)
    while not condition():
        assert time.monotonic() < deadline, f"{what}; the agent said:\n{log.read_text()}"
        time.sleep(0.1)


def listed(found) -> set[str]:
    return {k.split('"')[1].split(":")[0] for k in found.get("kubeha_master_up", {})}


def test_the_agent_follows_the_clusters_endpoints(agent, api, masters):
    process, base, log = agent
    fake, _ = api
    wait_for(lambda: scrape(base).get("kubeha_list_generation"), 20, "no /metrics", log)
    assert listed(scrape(base)) == {MASTERS[0]}

    fake.set(MASTERS)  # two masters added, as a join does
    wait_for(
        lambda: listed(scrape(base)) == set(MASTERS), 20, "the new masters were not taken", log
    )
    found = scrape(base)
    assert found["kubeha_discovery_source"]['source="endpoints"'] == 1
    assert found["kubeha_discovery_reads_total"][""] >= 2  # the list and the watch's event
    assert found["kubeha_discovery_failures_total"][""] == 0
    assert found["kubeha_discovery_read_timestamp_seconds"][""] > time.time() - 600
    generation = found["kubeha_list_generation"][""]

    fake.set(MASTERS[1:])  # m1 leaves the Endpoints but still answers: drained, not cut
    wait_for(
        lambda: (
            scrape(base).get("kubeha_master_draining", {}).get(f'master="{MASTERS[0]}:{masters}"')
            == 1
        ),
        20,
        "m1 was not drained",
        log,
    )
    assert scrape(base)["kubeha_list_generation"][""] > generation

    fake.token = "rotated-elsewhere"  # the agent's token refused from now on
    fake.end_watches()
    wait_for(lambda: "could not be read" in log.read_text(), 20, "no word of the 401", log)
    fake.set([MASTERS[3]])
    time.sleep(1.0)
    draining = scrape(base)["kubeha_master_draining"]
    assert draining[f'master="{MASTERS[1]}:{masters}"'] == 0, "a change came through a 401"
    assert listed(scrape(base)) == set(MASTERS)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=on_loaded_host(20)) == 0
    assert "started with 1 seed master(s)" in log.read_text()
