"""``kubeha masters add|remove|replace PROFILE ...``: change the profile's masters and bring the
nodes' balancers to the new list in one run, then save the profile (``restart``, which changes no
profile: :mod:`wizard.commands.masters_restart_command`).

The new profile is validated and rendered first; ``--dry-run`` shows every node's diff and
writes nothing; otherwise, once confirmed, the nodes are applied (staged, checked, rolled back
on failure, as ``kubeha apply``) and the profile file is written only when every node took the
new list, so the file never names masters the nodes do not use.
"""

from __future__ import annotations

import argparse
import sys

from wizard.commands import masters_restart_command
from wizard.commands.apply_commands import _confirm, apply_and_report, run_options
from wizard.commands.loading import load_valid_profile
from wizard.commands.options import port_number, profile_argument
from wizard.engine.model import ApplyOptions
from wizard.engine.report import plan_lines
from wizard.errors import CheckFailed
from wizard.example_addresses import refuse_example_addresses
from wizard.masters import add_master, remove_master, replace_master
from wizard.problems import problem_lines
from wizard.profile import Master, Profile
from wizard.profile_io import find_profile
from wizard.render import InvalidProfile, build_plan


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
    new = Master(args.name, args.address, args.port)
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
    before = ", ".join(m.name for m in old.masters)
    print(f"{what}: masters {before} -> {', '.join(m.name for m in profile.masters)}", file=out)
    options = ApplyOptions(
        only=(),
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        resume=False,
        trust_new_host_keys=args.trust_new_host_keys,
    )
    if not args.dry_run:
        for line in plan_lines(plan, [n.node for n in plan.nodes]):
            print(line, file=out)
        if not _confirm(f"{what} on {len(plan.nodes)} node(s), then save {path}?", args):
            print("nothing changed", file=out)
            return 1
    code = apply_and_report(plan, options, args)
    if code == 0 and not args.dry_run:
        write_profile(profile, path)
        print(f"saved {path}", file=out)
    elif not args.dry_run:
        print(f"{path} was not changed: the nodes did not all take the new list", file=out)
    return code
