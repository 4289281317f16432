"""``python3 kubeha-agent.pyz [--config /etc/kubeha/agent.json]``: the node agent's program.

Three threads, each bounded: the watch of the cluster's Endpoints (when discovery is on; it
re-lists and re-watches with a capped backoff, and its failure only stops the cluster's word,
never the list), the HTTP endpoint, and the rounds (main thread): check, take, apply, publish,
every ``interval_s``. SIGTERM ends it; the balancer keeps the list it has.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from wizard.agent.check import check
from wizard.agent.config import AgentConfig, ConfigError, parse_config
from wizard.agent.endpoints import LIST_PATH, ApiClient, BadEndpoints, Expired, members_of_listing
from wizard.agent.haproxy import HaproxyRuntime
from wizard.agent.loop import Agent, Balancer
from wizard.agent.nginx import NginxFiles
from wizard.agent.rebalance import Evener, close, node_offset, plan_closes, read_node
from wizard.agent.roster import Member, Roster
from wizard.agent.server import Published, make_server
from wizard.agent.settle import Settle

DEFAULT_CONFIG = "/etc/kubeha/agent.json"
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Observer:
    """A balancer that changes nothing (``balancer = "none"``): the agent reports only."""

    def apply(self, roster: Roster) -> None:
        return None

    def up(self) -> bool:
        return True

    def connections(self) -> dict[Member, int]:
        return {}


def balancer_of(config: AgentConfig) -> Balancer:
    if config.balancer == "haproxy":
        return HaproxyRuntime(
            config.admin_socket, config.backend, config.server_params, config.backup_params
        )
    if config.balancer == "nginx":
        return NginxFiles(
            config.nginx_upstream_file,
            config.nginx_config,
            config.nginx_binary,
            config.nginx_params,
        )
    return Observer()


def watch_forever(
    config: AgentConfig,
    offer: Callable[[frozenset[Member] | None], None],
    stopping: threading.Event,
    report: Callable[[bool], None] = lambda ok: None,
) -> None:
    """List then watch the Endpoints until ``stopping``; every failure is logged once per
    kind, waited out with a capped backoff, and never changes the list. The watch starts from
    the list's resourceVersion. A watch that heard nothing for its idle time (a quiet cluster)
    is no failure, nor is one the apiserver ends as too old (410) once: listed again at once;
    410 twice in a row is a failure (an apiserver that cannot keep a watch is not looped on).
    ``report`` hears of every read: a list or a watch event (True), a failure (False)."""
    assert config.discovery is not None
    d = config.discovery
    api = ApiClient(d.host, d.port, d.ca_file, d.token_file)
    failures = 0
    expired = 0
    last_error = ""
    while not stopping.is_set():
        try:
            members, version = members_of_listing(api.get(LIST_PATH))
            offer(members)
            report(True)
            try:
                for event in api.watch(
                    version, idle_s=max(30.0, config.interval_s * 10), stop=stopping.is_set
                ):
                    if event.members is not None:
                        offer(event.members)
                    report(True)
                    failures, expired, last_error = 0, 0, ""
            except socket.timeout:
                # Nothing changed for idle_s (the Endpoints of a quiet cluster): no failure, no
                # backoff, listed again at once; counted as one, a quiet hour backed the watch
                # off to 10 s between watches, and a new master was seen that much later.
                failures, expired, last_error = 0, 0, ""
            except Expired:
                expired += 1
                if expired > 1:
                    raise
                failures, last_error = 0, ""
        except (OSError, BadEndpoints, ValueError) as error:
            report(False)
            text = f"{type(error).__name__}: {error}"
            if text != last_error:
                log(
                    f"kubeha-agent: the cluster's Endpoints could not be read ({text}); "
                    "the list stays as it is"
                )
                last_error = text
            failures += 1
        stopping.wait(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])


def rebalancer_of(config: AgentConfig) -> Callable[[tuple[Member, ...]], int] | None:
    """The round's rebalance step: read this node's connections, close the planned ones."""
    wanted = config.rebalance
    if wanted is None:
        return None

    evener = Evener(node_offset(config.seed), wanted.idle_ms)

    def step(up: tuple[Member, ...]) -> int:
        try:
            conns = read_node(up, wanted.process, wanted.unit)
        except (OSError, subprocess.SubprocessError) as error:
            log(f"kubeha-agent: ss could not list the connections: {error}")
            return 0
        chosen = plan_closes(conns, up, wanted.ratio, wanted.per_round, wanted.idle_ms)
        if not chosen:  # within the ratio: towards this node's own share
            chosen = evener.plan(conns, up)
        closed = sum(1 for conn in chosen if close(conn))
        if closed:
            log(
                f"kubeha-agent: {closed} idle connection(s) to {chosen[0].master} closed to "
                "spread the load back"
            )
        return closed

    return step


def run(config: AgentConfig, stopping: threading.Event) -> None:
    settle = Settle(config.add_after_s, config.remove_after_s)
    context = config.check.context()
    agent = Agent(
        Roster.seeded(config.seed),
        balancer_of(config),
        lambda member: check(member, config.check, context),
        settle,
        log=log,
        rebalancer=rebalancer_of(config),
    )
    lock = threading.Lock()

    def offer(named: frozenset[Member] | None) -> None:
        if named is not None:
            with lock:
                agent.observe(named, time.monotonic())

    def report(ok: bool) -> None:
        with lock:
            agent.figures.discovery_read(ok, time.time())

    published = Published()
    server = make_server(config.listen_address, config.listen_port, published)
    threads = [threading.Thread(target=server.serve_forever, daemon=True, name="http")]
    if config.discovery is not None:
        threads.append(
            threading.Thread(
                target=watch_forever,
                args=(config, offer, stopping, report),
                daemon=True,
                name="watch",
            )
        )
    for thread in threads:
        thread.start()
    log(
        f"kubeha-agent: started with {len(config.seed)} seed master(s), balancer "
        f"{config.balancer}, discovery {'on' if config.discovery else 'off'}"
    )
    try:
        while not stopping.is_set():
            with lock:
                agent.round(time.monotonic())
                healthy = agent.figures.balancer_up
                published.publish(
                    agent.scrape(), healthy, "" if healthy else "the balancer does not answer"
                )
            stopping.wait(config.interval_s)
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeha-agent")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = parse_config(handle.read())
    except (OSError, ConfigError) as error:
        log(f"kubeha-agent: {args.config}: {error}")
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        run(config, stopping)
    except OSError as error:
        log(f"kubeha-agent: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
