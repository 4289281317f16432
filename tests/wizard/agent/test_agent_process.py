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
from urllib.parse import parse_qs, urlsplit

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
    """The Endpoints of one cluster as kube-apiserver serves them: the object
    (``.../endpoints/kubernetes``), the collection by field selector (an ``EndpointsList`` whose
    resourceVersion is the cluster's), and a watch that starts from a resourceVersion and ends
    with a 410 ``ERROR`` event when that is older than the window the apiserver keeps.
    ``set(addresses)`` changes the Endpoints and tells every watch; ``churn(n)`` is the rest of
    the cluster changing (the cluster's resourceVersion moves on, the object's does not)."""

    WINDOW = 100  # resourceVersions a watch may start behind the cluster's

    def __init__(self, port_of_masters: int) -> None:
        self.port = port_of_masters
        self.version = 100  # the cluster's resourceVersion
        self.object = endpoints(MASTERS[:1], port_of_masters, self.version)
        self.watches: list[queue.Queue] = []
        self.watched_from: list[int] = []
        self.token = TOKEN
        self.lock = threading.Lock()

    def set(self, addresses) -> None:
        with self.lock:
            self.version += 1
            self.object = endpoints(addresses, self.port, self.version)
            event = json.dumps({"type": "MODIFIED", "object": self.object}).encode() + b"\n"
            for watch in self.watches:
                watch.put(event)

    def churn(self, changes: int) -> None:
        with self.lock:
            self.version += changes

    def listing(self) -> dict:
        with self.lock:
            return {
                "kind": "EndpointsList",
                "metadata": {"resourceVersion": str(self.version)},
                "items": [self.object],
            }

    def too_old(self, since: int) -> bool:
        with self.lock:
            self.watched_from.append(since)
            return since < self.version - self.WINDOW

    def end_watches(self) -> None:
        """The server ends every open watch (as an apiserver does at its timeout)."""
        with self.lock:
            for watch in self.watches:
                watch.put(None)
            self.watches.clear()


GONE = {
    "type": "ERROR",
    "object": {
        "kind": "Status",
        "status": "Failure",
        "message": "too old resource version: 100 (400)",
        "reason": "Expired",
        "code": 410,
    },
}


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
            query = parse_qs(urlsplit(self.path).query)
            if "watch" not in query:
                if "fieldSelector" in query:
                    body = json.dumps(fake.listing()).encode()
                else:
                    with fake.lock:
                        body = json.dumps(fake.object).encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.end_headers()
            if fake.too_old(int(query["resourceVersion"][0])):
                self.wfile.write(json.dumps(GONE).encode() + b"\n")
                return
            events: queue.Queue = queue.Queue()
            with fake.lock:
                fake.watches.append(events)
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


def test_a_quiet_endpoints_object_on_a_busy_cluster_is_watched_without_a_failure(
    agent, api, masters
):
    """The Endpoints of a quiet cluster keep an old resourceVersion while the rest of the
    cluster moves on: a watch from the object's own resourceVersion is too old (410) every
    time, and the agent backed off to 10 s between reads. It watches from the list's: no
    failure, every watch from a current resourceVersion, a change seen through the watch."""
    _, base, log = agent
    fake, _ = api
    fake.churn(5000)  # the object now far behind the cluster's resourceVersion
    fake.end_watches()
    wait_for(lambda: scrape(base).get("kubeha_list_generation"), 20, "no /metrics", log)
    wait_for(lambda: fake.watched_from, 20, "no watch", log)
    fake.churn(5000)
    fake.end_watches()  # the next watch must start from the cluster's now, too
    wait_for(lambda: len(fake.watched_from) >= 2, 20, "no second watch", log)
    fake.set(MASTERS)
    wait_for(
        lambda: listed(scrape(base)) == set(MASTERS), 20, "the new masters were not taken", log
    )
    found = scrape(base)
    assert found["kubeha_discovery_failures_total"][""] == 0, log.read_text()
    assert "too old" not in log.read_text()
    assert min(fake.watched_from) >= 100 + 5000 - fake.WINDOW, fake.watched_from
