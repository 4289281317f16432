"""``kubeha masters add|remove|replace PROFILE ...``: change the profile's masters and bring the
nodes' balancers to the new list in one run, then save the profile (``restart``, which changes no
profile: :mod:`wizard.commands.masters_restart_command`).

The new profile is validated and rendered first; ``--dry-run`` shows every node's diff and
writes nothing; otherwise, once confirmed, the nodes are applied (staged, checked, rolled back
on failure, as ``kubeha apply``) and the profile file is written only when every node took the
new list, so the file never names masters the nodes do not use.

With discovery on (``[agent] discovery = true``) every node's agent follows the cluster's
``default/kubernetes`` Endpoints by itself: no node is re-applied and no worker is connected to
(unless the masters carry the load balancer, haproxy-keepalived's ``run_on = "masters"``: then
the masters are applied, as without discovery, and still no worker: its files name only the VIP).
The command reads the Endpoints with kubectl on one staying master over SSH, waits (``--timeout``)
until a new master is in them, and only then saves the profile (the seed and fallback list each
node's agent takes at its next apply) (:mod:`wizard.engine.master_endpoints`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from wizard.commands import masters_restart_command
from wizard.commands.apply_commands import _confirm, apply_and_report, run_options
from wizard.commands.loading import load_valid_profile
from wizard.commands.options import port_number, profile_argument
from wizard.commands.status_command import seconds
from wizard.engine.model import ApplyOptions
from wizard.engine.report import plan_lines
from wizard.errors import CheckFailed
from wizard.example_addresses import refuse_example_addresses
from wizard.jsonlines import json_line
from wizard.masters import add_master, remove_master, replace_master
from wizard.netaddr import host_port
from wizard.problems import problem_lines
from wizard.profile import Master, Profile, SshTarget
from wizard.profile_io import find_profile
from wizard.render import InvalidProfile, build_plan
from wizard.strategies import registry
from wizard.strategies.node_agent import discovery_on


def register(subparsers: argparse._SubParsersAction) -> None:
    masters = subparsers.add_parser(
        "masters", help="add, remove or replace a master: the profile and every balancer"
    )
    actions = masters.add_subparsers(dest="masters_action", required=True, metavar="ACTION")
    for action, text in (
        ("add", "add a master to every node's balancer"),
        ("remove", "take a master out of every node's balancer"),
        ("replace", "put a new master in an old one's place"),
    ):
        parser = actions.add_parser(action, help=text)
        profile_argument(parser)
        if action in ("remove", "replace"):
            parser.add_argument(
                "--master", required=True, metavar="NAME", help="the master that goes"
            )
        if action in ("add", "replace"):
            parser.add_argument("--name", required=True, help="the new master's name")
            parser.add_argument("--address", required=True, help="the new master's address")
            parser.add_argument("--port", type=port_number, default=6443, help="its apiserver port")
            parser.add_argument(
                "--ssh-host",
                metavar="HOST",
                help="how SSH reaches the new master when not at --address (its [ssh] host)",
            )
            parser.add_argument(
                "--ssh-port", type=port_number, metavar="PORT", help="its SSH port, if not [ssh]'s"
            )
        parser.add_argument(
            "--timeout",
            type=seconds,
            default=300.0,
            help="with discovery on: seconds for the new master to be in the cluster's "
            "Endpoints (default 300)",
        )
        run_options(parser, dry_run=True, only=False, resume=False)
        parser.set_defaults(func=run_masters, only=[], resume=False)
    restart = actions.add_parser(
        "restart", help="restart every master's apiserver in turn, each once every node has it back"
    )
    profile_argument(restart)
    masters_restart_command.options(restart)


def changed_profile(args: argparse.Namespace, profile: Profile) -> tuple[Profile, str]:
    if args.masters_action == "remove":
        return remove_master(profile, args.master)
    new = Master(args.name, args.address, args.port, SshTarget(args.ssh_host, args.ssh_port))
    if args.masters_action == "add":
        return add_master(profile, new)
    return replace_master(profile, args.master, new)


def run_masters(args: argparse.Namespace) -> int:
    from wizard.profile_save import write_profile

    path = find_profile(args.profile)
    old = load_valid_profile(path)
    profile, what = changed_profile(args, old)
    try:
        plan = build_plan(profile)
    except InvalidProfile as exc:
        lines = "\n".join(problem_lines(exc.problems))
        raise CheckFailed(f"{path}: after {what}, the profile is not valid:\n{lines}") from None
    refuse_example_addresses(profile, "masters")
    out = sys.stderr if args.json else sys.stdout
    print(f"{what}: {profile_change(old, profile)}", file=out)
    only: tuple[str, ...] = ()
    if discovery_on(old) and discovery_on(profile):
        strategy = registry.get(profile.strategy)
        carriers = strategy.cluster_nodes(profile)
        if set(strategy.cluster_nodes(old)) == set(carriers):
            return by_discovery(args, path, old, profile, out)
        # haproxy-keepalived on the masters: they carry haproxy, keepalived and the VIP, which
        # no agent installs; they are applied, and no worker (its files name only the VIP)
        only = carriers
        print(
            "discovery is on, but the masters carry the load balancer and its VIP "
            f"({strategy.lb_nodes_setting(profile)}): the change is applied to them "
            f"({', '.join(carriers)}); no worker is connected to",
            file=out,
        )
    options = ApplyOptions(
        only=only,
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        resume=False,
        trust_new_host_keys=args.trust_new_host_keys,
    )
    if not args.dry_run:
        names = list(only) or [n.node for n in plan.nodes]
        for line in plan_lines(plan, names):
            print(line, file=out)
        if not _confirm(f"{what} on {len(names)} node(s), then save {path}?", args):
            print("nothing changed", file=out)
            return 1
    code = apply_and_report(plan, options, args)
    if code == 0 and not args.dry_run:
        write_profile(profile, path)
        print(f"saved {path}", file=out)
    elif not args.dry_run:
        print(f"{path} was not changed: the nodes did not all take the new list", file=out)
    return code


def by_discovery(
    args: argparse.Namespace, path: Path, old: Profile, profile: Profile, out: TextIO
) -> int:
    """The change with discovery on: no node re-applied, no worker connected to; kubectl on
    one staying master reads the Endpoints; the profile saved once the new master is there."""
    from wizard.profile_save import write_profile

    new = None if args.masters_action == "remove" else profile.node(args.name)
    leaving = "" if args.masters_action == "add" else args.master
    staying = [m.name for m in old.masters if m.name != leaving]
    through = [*staying, *([leaving] if leaving else [])]  # the leaving one only as the last
    wanted = host_port(new.address, new.apiserver_port) if isinstance(new, Master) else ""
    print(
        "discovery is on: every node's agent follows the cluster's default/kubernetes "
        "Endpoints; no node is re-applied, no worker is connected to",
        file=out,
    )
    if wanted:
        print(
            f"  then: kubectl on {through[0]} (over SSH) until {wanted} is in the Endpoints "
            f"(up to {args.timeout:g} s), then save {path}",
            file=out,
        )
    else:
        print(
            f"  then: save {path}; {leaving} leaves every node's list once its apiserver "
            "leaves the Endpoints (stopped, or its lease run out)",
            file=out,
        )
    print(
        "  each node's seed and fallback list (its agent.json) takes the new masters at its "
        "next `kubeha apply`",
        file=out,
    )
    if args.dry_run:
        print("dry run: nothing connected, nothing saved", file=out)
        return 0
    if not _confirm(f"{profile_change(old, profile)}, then save {path}?", args):
        print("nothing changed", file=out)
        return 1
    from wizard.engine.master_endpoints import kubectl_on, read_members, wait_until_named
    from wizard.engine.secrets_input import collect
    from wizard.engine.sessions import NodeSessions

    options = ApplyOptions(trust_new_host_keys=args.trust_new_host_keys)
    took = 0.0
    with NodeSessions.over_ssh(old, options, collect(old, args.ask_sudo_password)) as nodes:
        kubectl = kubectl_on(nodes.node, through)
        if wanted:
            took = wait_until_named(
                lambda: read_members(kubectl),
                wanted,
                args.timeout,
                lambda line: print(line, file=out, flush=True),
            )
            print(
                f"{wanted} is in the Endpoints ({took:.1f} s): every node's agent adds it", file=out
            )
        else:
            gone = leaving and old.node(leaving)
            label = host_port(gone.address, gone.apiserver_port) if isinstance(gone, Master) else ""
            if label in read_members(kubectl):
                print(
                    f"{label} is still in the Endpoints: every node's agent keeps it until its "
                    "apiserver leaves them",
                    file=out,
                )
    write_profile(profile, path)
    print(f"saved {path}", file=out)
    if args.json:
        data = {
            "ok": True,
            "change": args.masters_action,
            "masters": [m.name for m in profile.masters],
            "endpoint": wanted,
            "endpoint_s": round(took, 1),
            "saved": str(path),
        }
        print(json_line("masters", data), flush=True)
    return 0


def profile_change(old: Profile, new: Profile) -> str:
    before = ", ".join(m.name for m in old.masters)
    return f"masters {before} -> {', '.join(m.name for m in new.masters)}"
