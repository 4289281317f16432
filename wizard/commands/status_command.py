"""``kubeha status PROFILE [--json]``: every node x every master, as each node's balancer sees
it, read from the nodes' agents in parallel (``wizard.status``). Live in a terminal (Textual,
imported only here), once with ``--json``. Reads only: nothing on a node changes. Exit 1 when a
node is not healthy (``--json``)."""

from __future__ import annotations

import argparse
import sys

from wizard.agent import DEFAULT_PORT
from wizard.commands.loading import load_plan
from wizard.commands.options import port_number, profile_argument
from wizard.errors import UsageError
from wizard.example_addresses import refuse_example_addresses
from wizard.status.fleet import DEFAULT_CONCURRENCY, NodeStatus, Target, read_fleet, to_json


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
        default=DEFAULT_PORT,
        help=f"the agents' metrics port (default {DEFAULT_PORT})",
    )
    status.add_argument(
        "--interval", type=seconds, default=2.0, help="seconds between two reads (default 2)"
    )
    status.add_argument(
        "--timeout", type=seconds, default=3.0, help="seconds a node has to answer (default 3)"
    )
    status.set_defaults(func=run_status)


def targets_of(args: argparse.Namespace) -> tuple[str, list[Target]]:
    plan = load_plan(args.profile)
    profile = plan.profile
    refuse_example_addresses(profile, "kubeha status")
    return profile.name, [Target(n.node, n.address, args.port) for n in plan.nodes]


def run_status(args: argparse.Namespace) -> int:
    name, targets = targets_of(args)

    def reader() -> list[NodeStatus]:
        return read_fleet(targets, concurrency=DEFAULT_CONCURRENCY, timeout_s=args.timeout)

    if args.json:
        statuses = reader()
        sys.stdout.write(to_json(statuses) + "\n")
        return 0 if statuses and all(s.ok for s in statuses) else 1
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("kubeha status needs a terminal for its live view: add --json")
    from screens.status import StatusApp

    StatusApp(reader, name, args.interval).run()
    return 0
