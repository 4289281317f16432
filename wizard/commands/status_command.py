"""``kubeha status PROFILE [--json [--follow [--for S]]]``: every node x every master, as each
node's balancer sees it, read from the nodes' agents in parallel (``wizard.status``). Live in a
terminal (Textual, imported only here), once with ``--json`` (exit 1 when a node is not healthy),
or with ``--json --follow`` every change as it happens, one line each (``wizard.status.follow``).
Reads only: nothing on a node changes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from wizard.agent import DEFAULT_PORT
from wizard.commands.loading import load_plan
from wizard.commands.options import port_number, profile_argument
from wizard.errors import UsageError
from wizard.example_addresses import refuse_example_addresses
from wizard.netaddr import parse_ip
from wizard.profile import Profile
from wizard.status.fleet import (
    DEFAULT_CONCURRENCY,
    NodeStatus,
    Target,
    http_fetch,
    read_fleet,
    to_json,
)
from wizard.status.follow import follow
from wizard.status.live import LiveFleet
from wizard.strategies import node_agent

if TYPE_CHECKING:
    from wizard.engine.sessions import NodeSessions


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, 0.1 to 3600")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    status = subparsers.add_parser(
        "status", help="what every node's balancer sees of every master (reads the agents)"
    )
    profile_argument(status)
    status.add_argument("--json", action="store_true", help="read once, print JSON, exit")
    status.add_argument(
        "--port",
        type=port_number,
        default=None,
        help=f"the agents' metrics port (default: the profile's [agent], else {DEFAULT_PORT})",
    )
    status.add_argument(
        "--interval", type=seconds, default=2.0, help="seconds between two reads (default 2)"
    )
    status.add_argument(
        "--timeout", type=seconds, default=3.0, help="seconds a node has to answer (default 3)"
    )
    status.add_argument(
        "--follow",
        action="store_true",
        help="with --json: the first read, then one line per change as it happens",
    )
    status.add_argument(
        "--for",
        dest="for_s",
        type=seconds,
        default=None,
        help="with --follow: stop after these seconds (default: until Ctrl-C)",
    )
    status.set_defaults(func=run_status)


def targets_of(args: argparse.Namespace) -> tuple[Profile, list[Target], bool]:
    """The profile, where each node's agent answers, and whether it is read over SSH (the
    profile's agent listens on loopback: only the node itself reaches it)."""
    plan = load_plan(args.profile)
    profile = plan.profile
    refuse_example_addresses(profile, "kubeha status")
    agent = node_agent.agent_of(profile)
    port = args.port or (agent.listen_port if agent.enabled else DEFAULT_PORT)
    ip = parse_ip(agent.listen_address)
    over_ssh = agent.enabled and ip is not None and ip.is_loopback
    targets = [
        Target(n.node, agent.listen_address if over_ssh else n.address, port)
        for n in plan.nodes
        # the nodes that run an agent (haproxy-keepalived: its load-balancer nodes only)
        if not agent.enabled or any(f.path == node_agent.PYZ_PATH for f in n.files)
    ]
    return profile, targets, over_ssh


# Run on the node by ``kubeha status`` over SSH: one bounded scrape of its own agent.
SCRAPE = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))"
    ".read(1 << 20).decode('utf-8', 'replace'))"
)


def ssh_fetcher(
    profile: Profile,
) -> tuple[Callable[[Target, float], str], Callable[[], None]]:
    """A scrape of each node's agent through the node (its connection opened once and kept
    for the live view), and what closes them."""
    from wizard.engine.model import ApplyOptions
    from wizard.engine.secrets_input import collect
    from wizard.engine.sessions import NodeSessions

    sessions = NodeSessions.over_ssh(profile, ApplyOptions(), collect(profile, False))
    return fetch_through(sessions), sessions.close


def fetch_through(sessions: NodeSessions) -> Callable[[Target, float], str]:
    """A scrape of a node's agent run on the node itself, on the command's connection to it."""

    def fetch(target: Target, timeout_s: float) -> str:
        try:
            node = sessions.node(target.node)
            result = node.run(
                ["python3", "-c", SCRAPE, target.url, str(timeout_s)], timeout=timeout_s + 10
            )
        except Exception as error:  # an SSH failure: this node's status says it
            raise OSError(f"over SSH: {error}") from None
        if not result.ok:
            lines = result.stderr.strip().splitlines()
            raise OSError(f"over SSH: {lines[-1] if lines else f'exit {result.returncode}'}")
        return result.stdout

    return fetch


def run_status(args: argparse.Namespace) -> int:
    if args.follow and not args.json:
        raise UsageError("kubeha status --follow prints JSON lines: add --json")
    if args.for_s is not None and not args.follow:
        raise UsageError("kubeha status --for goes with --follow")
    profile, targets, over_ssh = targets_of(args)
    name = profile.name
    if not args.json and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("kubeha status needs a terminal for its live view: add --json")
    fetch, close = ssh_fetcher(profile) if over_ssh else (http_fetch, lambda: None)

    live = None
    if args.json and not args.follow:  # once: every node asked, the read bounded in time

        def reader() -> list[NodeStatus]:
            return read_fleet(targets, fetch, DEFAULT_CONCURRENCY, args.timeout)

    else:  # again and again: a node whose ask hangs does not hold the others
        live = LiveFleet(targets, fetch, DEFAULT_CONCURRENCY, args.timeout)
        reader = live.read
    try:
        return _show(args, name, reader)
    finally:
        if live is not None:
            live.close()
        close()


def _write_now(line: str) -> None:
    """A line out at once: a follower reads each change as it happens, through a pipe too."""
    sys.stdout.write(line)
    sys.stdout.flush()


def _show(args: argparse.Namespace, name: str, reader: Callable[[], list[NodeStatus]]) -> int:
    if args.json and args.follow:
        return follow(reader, args.interval, args.for_s, _write_now)
    if args.json:
        statuses = reader()
        sys.stdout.write(to_json(statuses) + "\n")
        return 0 if statuses and all(s.ok for s in statuses) else 1
    from screens.status import StatusApp

    StatusApp(reader, name, args.interval).run()
    return 0
