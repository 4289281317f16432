"""``kubeha apply`` (the headless replay of a profile) and ``kubeha uninstall``.

The engine (fabric, paramiko) is imported when a command runs, not when the parser is built, so
``kubeha validate`` and the wizard start without it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wizard.commands.loading import read_valid_profile
from wizard.engine.events import ConsoleSink, Event
from wizard.engine.model import ApplyOptions
from wizard.engine.report import diff_lines, plan_lines, summary_lines
from wizard.errors import KubehaError
from wizard.example_addresses import refuse_example_addresses
from wizard.render import build_plan


def concurrency(text: str) -> int:
    """``--concurrency N``: how many nodes at once, a whole number from 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to 256")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    apply = subparsers.add_parser(
        "apply", help="deploy a profile to its nodes, verify, roll back on failure"
    )
    apply.add_argument(
        "profile", type=Path, help="a profile .toml file, or the name of a saved profile"
    )
    apply.add_argument("--yes", "-y", action="store_true", help="do not ask before changing nodes")
    apply.add_argument(
        "--dry-run", action="store_true", help="show per-node diffs and actions; change nothing"
    )
    apply.add_argument(
        "--only", nargs="+", metavar="NODE", default=[], help="run on these nodes only"
    )
    apply.add_argument(
        "--concurrency",
        type=concurrency,
        default=32,
        metavar="N",
        help="nodes at once (default 32)",
    )
    apply.add_argument("--json", action="store_true", help="print events as JSON lines")
    apply.add_argument(
        "--resume", action="store_true", help="redo only the nodes the last run did not finish"
    )
    _common(apply)
    apply.set_defaults(func=run_apply_command)

    uninstall = subparsers.add_parser(
        "uninstall", help="remove what kubeha installed; restore replaced files"
    )
    uninstall.add_argument(
        "profile", type=Path, help="a profile .toml file, or the name of a saved profile"
    )
    uninstall.add_argument(
        "--yes", "-y", action="store_true", help="do not ask before changing nodes"
    )
    uninstall.add_argument(
        "--only", nargs="+", metavar="NODE", default=[], help="run on these nodes only"
    )
    uninstall.add_argument(
        "--concurrency",
        type=concurrency,
        default=32,
        metavar="N",
        help="nodes at once (default 32)",
    )
    uninstall.add_argument("--json", action="store_true", help="print events as JSON lines")
    _common(uninstall)
    uninstall.set_defaults(func=run_uninstall_command, dry_run=False, resume=False)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-new-host-keys",
        action="store_true",
        help="pin host keys not seen before (never a changed one)",
    )
    parser.add_argument(
        "--ask-sudo-password",
        action="store_true",
        help="prompt for the sudo password (or set KUBEHA_SUDO_PASSWORD)",
    )


def _load(args: argparse.Namespace):
    """The valid profile, or exit 1 (invalid) or 2 (unreadable): wizard.commands.loading."""
    return read_valid_profile(args.profile)


def _options(args: argparse.Namespace) -> ApplyOptions:
    return ApplyOptions(
        only=tuple(args.only),
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        resume=args.resume,
        trust_new_host_keys=args.trust_new_host_keys,
    )


def _sink(args: argparse.Namespace):
    if args.json:

        def emit(event: Event) -> None:
            print(event.to_json(), flush=True)

        return emit
    return ConsoleSink(sys.stdout)


def _confirm(question: str, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise KubehaError(
            "refusing to change nodes without confirmation: add --yes (or --dry-run to look first)"
        )
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def run_apply_command(args: argparse.Namespace) -> int:
    from wizard.engine.apply import run_apply, select_nodes
    from wizard.engine.secrets_input import collect

    profile = _load(args)
    options = _options(args)
    plan = build_plan(profile)
    selected, _ = select_nodes(plan, options, profile)
    refuse_example_addresses(profile, "apply")  # before any connection, dry run included
    if not options.dry_run:
        out = sys.stderr if args.json else sys.stdout
        for line in plan_lines(plan, selected):
            print(line, file=out)
        if not _confirm(f"Apply to {len(selected)} node(s)?", args):
            print("nothing changed", file=out)
            return 1
    secrets = collect(profile, args.ask_sudo_password)
    summary = run_apply(profile, options, _sink(args), secrets=secrets)
    out = sys.stderr if args.json else sys.stdout
    if options.dry_run:
        for result in summary.nodes:
            for line in diff_lines(result):
                print(line, file=out)
    for line in summary_lines(summary):
        print(line, file=out)
    return 0 if summary.ok else 1


def run_uninstall_command(args: argparse.Namespace) -> int:
    from wizard.engine.apply import run_uninstall, select_nodes
    from wizard.engine.secrets_input import collect

    profile = _load(args)
    options = _options(args)
    plan = build_plan(profile)
    selected, _ = select_nodes(plan, options, profile)
    refuse_example_addresses(profile, "uninstall")  # before any connection
    if not _confirm(f"Remove kubeha's {profile.strategy} from {len(selected)} node(s)?", args):
        print("nothing changed", file=sys.stderr if args.json else sys.stdout)
        return 1
    secrets = collect(profile, args.ask_sudo_password)
    summary = run_uninstall(profile, options, _sink(args), secrets=secrets)
    for line in summary_lines(summary):
        print(line, file=sys.stderr if args.json else sys.stdout)
    return 0 if summary.ok else 1
