"""The agent's discovery loop (``wizard.agent.__main__.watch_forever``) against a stand-in API
client: a watch that hears nothing for its idle time (the Endpoints of a quiet cluster) is no
failure, so the loop lists again at once instead of backing off; a real failure backs off and
is counted; every read is reported for the agent's metrics."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from wizard.agent import __main__ as agent_main
from wizard.agent.config import Discovery
from wizard.agent.endpoints import Event, Expired
from wizard.agent.roster import Member

LISTING = {
    "kind": "EndpointsList",
    "metadata": {"resourceVersion": "9107"},
    "items": [
        {
            "kind": "Endpoints",
            "metadata": {"resourceVersion": "7"},
            "subsets": [{"addresses": [{"ip": "10.77.0.11"}], "ports": [{"port": 6443}]}],
        }
    ],
}


class Rounds(threading.Event):
    """A stop flag that stops the loop after ``rounds`` waits and records what it waited."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds, self.waited = rounds, []

    def wait(self, timeout=None):
        self.waited.append(timeout)
        if len(self.waited) >= self.rounds:
            self.set()
        return self.is_set()


def run_loop(monkeypatch, watch_ends, rounds: int = 4):
    """The loop for ``rounds`` rounds; each watch ends as ``watch_ends()`` says (an exception
    to raise, or None: one event, then the server ends the watch)."""
    reports, offers, logs = [], [], []
    watched_from = []

    class Api:
        def __init__(self, *args):
            pass

        def get(self, path):
            assert path == agent_main.LIST_PATH
            return LISTING

        def watch(self, version, idle_s, stop):
            watched_from.append(version)
            ending = watch_ends()
            if ending is not None:
                raise ending
            yield Event("MODIFIED", "8", frozenset({Member("10.77.0.12", 6443)}))

    monkeypatch.setattr(agent_main, "ApiClient", Api)
    monkeypatch.setattr(agent_main, "log", logs.append)
    config = SimpleNamespace(
        discovery=Discovery("10.77.0.100", 8443, "/ca", "/token"), interval_s=1
    )
    stopping = Rounds(rounds)
    agent_main.watch_forever(config, offers.append, stopping, reports.append)
    assert set(watched_from) <= {"9107"}  # the list's resourceVersion, never the object's
    return stopping.waited, reports, offers, logs


def test_a_quiet_watch_is_listed_again_at_once_and_counts_no_failure(monkeypatch):
    waited, reports, offers, logs = run_loop(monkeypatch, lambda: TimeoutError("timed out"))
    assert waited == [agent_main.BACKOFF_S[0]] * 4  # never backed off
    assert reports == [True] * 4 and False not in reports  # each list read, none failed
    assert offers and not logs


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "refused"), OSError("reset")])
def test_a_failure_backs_off_is_said_once_and_reported(monkeypatch, error):
    waited, reports, _, logs = run_loop(monkeypatch, lambda: error)
    assert waited == list(agent_main.BACKOFF_S[1:5])  # 1, 2, 5, 10 s: backed off
    assert reports == [True, False] * 4  # the list read, the watch failed
    assert len(logs) == 1 and "could not be read" in logs[0]


def test_events_are_offered_and_reported(monkeypatch):
    _, reports, offers, _ = run_loop(monkeypatch, lambda: None, rounds=2)
    assert reports == [True, True] * 2  # the list, then the watch's one event
    assert frozenset({Member("10.77.0.12", 6443)}) in offers


def test_a_watch_the_apiserver_ends_as_too_old_is_listed_again_at_once(monkeypatch):
    """A 410 ("too old resource version") now and then: listed again at once, no failure."""
    endings = iter([Expired("too old"), None, Expired("too old"), None])
    waited, reports, _, logs = run_loop(monkeypatch, lambda: next(endings))
    assert waited == [agent_main.BACKOFF_S[0]] * 4
    assert False not in reports and not logs


def test_a_watch_that_is_too_old_every_time_backs_off_and_is_said(monkeypatch):
    """An apiserver that ends every watch as too old is not looped on: from the second 410 in
    a row it is a failure (backed off, said once, reported)."""
    waited, reports, _, logs = run_loop(monkeypatch, lambda: Expired("too old"), rounds=4)
    assert waited[0] == agent_main.BACKOFF_S[0] and waited[1:] == list(agent_main.BACKOFF_S[1:4])
    assert reports.count(False) == 3
    assert len(logs) == 1 and "too old" in logs[0]
