"""``kubeha masters restart PROFILE``: a rolling restart of the masters' apiservers, one at a
time, each only once every node's balancer (read from the nodes' agents) has the last one back
(:mod:`wizard.engine.rolling_restart`). Asks before it starts (``--yes`` not to); ``--dry-run``
says what it would do and connects to nothing. The profile does not change."""

from __future__ import annotations

import argparse
import sys

from wizard.agent import DEFAULT_PORT
from wizard.commands.options import connection_options, port_number
from wizard.commands.status_command import fetch_through, seconds, targets_of
from wizard.errors import KubehaError
from wizard.netaddr import host_port
from wizard.profile import Profile
from wizard.status.fleet import DEFAULT_CONCURRENCY, http_fetch, read_fleet
from wizard.textsafe import printable


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--master",
        action="append",
        default=[],
        metavar="NAME",
        help="restart only these masters, in this order (repeat; default: every master)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=300.0,
        help="seconds for every node to have a restarted master back (default 300)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=None,
        help=f"the agents' metrics port (default: the profile's [agent], else {DEFAULT_PORT})",
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before restarting")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be restarted; connect to nothing"
    )
    connection_options(parser)
    parser.set_defaults(func=run_restart)


def chosen(profile: Profile, names: list[str]) -> list[tuple[str, str]]:
    """(name, ``ADDRESS:PORT`` as the agents name it) of each master to restart, in order."""
    by_name = {m.name: m for m in profile.masters}
    for name in names:
        if name not in by_name:
            raise KubehaError(
                f"--master: '{printable(name)}': expected one of {', '.join(by_name)}"
            )
    if len(set(names)) != len(names):
        raise KubehaError("--master: a master is named twice: expected each at most once")
    picked = [by_name[n] for n in names] if names else list(profile.masters)
    return [(m.name, host_port(m.address, m.apiserver_port)) for m in picked]


def run_restart(args: argparse.Namespace) -> int:
    # The engine (and fabric) only when the command runs: `kubeha --help` loads neither.
    from wizard.commands.apply_commands import _confirm
    from wizard.engine.model import ApplyOptions
    from wizard.engine.rolling_restart import restart_apiserver, rolling_restart
    from wizard.engine.secrets_input import collect
    from wizard.engine.sessions import NodeSessions

    profile, targets, over_ssh = targets_of(args)  # as `kubeha status` reads the agents
    masters = chosen(profile, args.master)
    order = " -> ".join(name for name, _ in masters)
    print(f"rolling restart of {order}: each master's kube-apiserver restarted as it runs")
    where = "through each node over SSH" if over_ssh else "over HTTP"
    print(
        f"  before each: every node's agent (port {targets[0].port if targets else '-'}, read "
        f"{where}) must show every master up; after each: every node must have it back "
        f"within {args.timeout:g} s"
    )
    if args.dry_run:
        print("dry run: nothing connected, nothing restarted")
        return 0
    if not _confirm(f"Restart {len(masters)} master(s) one by one?", args):
        print("nothing restarted")
        return 1
    ssh = ApplyOptions(trust_new_host_keys=args.trust_new_host_keys)
    with NodeSessions.over_ssh(profile, ssh, collect(profile, args.ask_sudo_password)) as nodes:
        fetch = fetch_through(nodes) if over_ssh else http_fetch
        done = rolling_restart(
            masters,
            lambda name: restart_apiserver(nodes.node(name)),
            lambda: read_fleet(targets, fetch, concurrency=DEFAULT_CONCURRENCY),
            args.timeout,
            lambda line: print(line, flush=True),
        )
    for step in done:
        print(
            f"{step.master}: {step.how} restarted in {step.restart_s:.1f} s, "
            f"back on every node {step.back_s:.1f} s later"
        )
    print(f"every master restarted: {', '.join(s.master for s in done)}")
    sys.stdout.flush()
    return 0
