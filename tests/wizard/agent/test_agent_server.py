"""The agent's HTTP endpoint (wizard.agent.server), on loopback: /metrics, /healthz, 404."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from wizard.agent.server import Published, make_server


@pytest.fixture
def served():
    published = Published()
    server = make_server("127.0.0.1", 0, published)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield published, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_says_503_until_the_first_round_then_ok(served):
    published, base = served
    code, text = get(base + "/healthz")
    assert code == 503 and "first round" in text
    published.publish("kubeha_balancer_up 1\n", healthy=True)
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/metrics") == (200, "kubeha_balancer_up 1\n")
    published.publish("kubeha_balancer_up 0\n", healthy=False, reason="nginx does not answer")
    assert get(base + "/healthz") == (503, "nginx does not answer\n")


def test_any_other_path_is_404(served):
    _, base = served
    assert get(base + "/")[0] == 404
