"""``kubeha apply`` (the headless replay of a profile) and ``kubeha uninstall``.

Each validates and renders the profile once (:func:`wizard.commands.loading.load_plan`), shows
and confirms that plan, and hands the same plan to the engine. The engine (fabric, paramiko) is
imported when a command runs, not when the parser is built, so ``kubeha validate`` and the
wizard start without it.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from wizard.commands.loading import load_plan
from wizard.commands.options import connection_options, profile_argument
from wizard.engine.events import ConsoleSink, Event
from wizard.engine.model import ApplyOptions, RunSummary
from wizard.engine.report import diff_lines, object_lines, plan_lines, summary_lines
from wizard.errors import EXIT_INTERRUPTED, KubehaError
from wizard.example_addresses import refuse_example_addresses
from wizard.render import RenderPlan


def concurrency(text: str) -> int:
    """``--concurrency N``: how many nodes at once, a whole number from 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to 256")
    return value


class NodeNames(argparse.Action):
    """``--only m1 --only m2`` or ``--only m1,m2``: one value per flag, so a profile after it
    (``apply --only m1 PROFILE``) is never taken for a node's name."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        names = [n.strip() for n in str(values).split(",")]
        if not all(names):
            raise argparse.ArgumentError(self, f"{values!r}: expected node names, e.g. m1,m2")
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *names])


def register(subparsers: argparse._SubParsersAction) -> None:
    apply = subparsers.add_parser(
        "apply", help="deploy a profile to its nodes, verify, roll back on failure"
    )
    _run_options(apply, apply_only=True)
    apply.set_defaults(func=run_apply_command)
    uninstall = subparsers.add_parser(
        "uninstall", help="remove what kubeha installed; restore replaced files"
    )
    _run_options(uninstall, apply_only=False)
    uninstall.set_defaults(func=run_uninstall_command, dry_run=False, resume=False)


def _run_options(parser: argparse.ArgumentParser, apply_only: bool) -> None:
    """The options of a run on the nodes; ``apply_only``: --dry-run and --resume too."""
    profile_argument(parser)
    run_options(parser, dry_run=apply_only, only=True, resume=apply_only)


def run_options(
    parser: argparse.ArgumentParser, *, dry_run: bool, only: bool, resume: bool
) -> None:
    """--yes, --concurrency, --json and the connection options of every command that runs on
    the nodes; --dry-run, --only and --resume where the command takes them."""
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before changing nodes")
    if dry_run:
        parser.add_argument(
            "--dry-run", action="store_true", help="show per-node diffs and actions; change nothing"
        )
    if only:
        parser.add_argument(
            "--only",
            action=NodeNames,
            metavar="NODE[,NODE...]",
            default=[],
            help="run on these nodes only: repeat --only, or give a comma-separated list",
        )
    parser.add_argument(
        "--concurrency",
        type=concurrency,
        default=32,
        metavar="N",
        help="nodes at once (default 32)",
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    if resume:
        parser.add_argument(
            "--resume", action="store_true", help="redo only the nodes the last run did not finish"
        )
    connection_options(parser)


def _options(args: argparse.Namespace) -> ApplyOptions:
    return ApplyOptions(
        only=tuple(args.only),
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        resume=args.resume,
        trust_new_host_keys=args.trust_new_host_keys,
    )


def _sink(args: argparse.Namespace) -> Callable[[Event], None]:
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
    from wizard.engine.apply import select_nodes

    plan = load_plan(args.profile)
    profile = plan.profile
    options = _options(args)
    selected, _ = select_nodes(plan, options)
    refuse_example_addresses(profile, "apply")  # before any connection, dry run included
    out = sys.stderr if args.json else sys.stdout
    if not options.dry_run:
        for line in plan_lines(plan, selected):
            print(line, file=out)
        if not _confirm(f"Apply to {len(selected)} node(s)?", args):
            print("nothing changed", file=out)
            return 1
    return apply_and_report(plan, options, args)


def apply_and_report(plan: RenderPlan, options: ApplyOptions, args: argparse.Namespace) -> int:
    """Run ``plan`` on the nodes (asking for the sudo password if the command was told to),
    print a dry run's diffs and the summary, and return the run's exit code."""
    from wizard.engine.apply import run_apply
    from wizard.engine.secrets_input import collect

    out = sys.stderr if args.json else sys.stdout
    secrets = collect(plan.profile, args.ask_sudo_password)
    cancel = threading.Event()  # set by the engine when Ctrl-C stops the run
    summary = run_apply(plan, options, _sink(args), cancel=cancel, secrets=secrets)
    if options.dry_run:
        for result in summary.nodes:
            for line in diff_lines(result):
                print(line, file=out)
        for line in object_lines(summary):
            print(line, file=out)
    for line in summary_lines(summary):
        print(line, file=out)
    return _exit_code(summary, cancel)


def run_uninstall_command(args: argparse.Namespace) -> int:
    from wizard.engine.apply import run_uninstall, select_nodes
    from wizard.engine.secrets_input import collect

    plan = load_plan(args.profile)
    profile = plan.profile
    options = _options(args)
    selected, _ = select_nodes(plan, options)
    refuse_example_addresses(profile, "uninstall")  # before any connection
    out = sys.stderr if args.json else sys.stdout
    if not _confirm(f"Remove kubeha's {profile.strategy} from {len(selected)} node(s)?", args):
        print("nothing changed", file=out)
        return 1
    secrets = collect(profile, args.ask_sudo_password)
    cancel = threading.Event()
    summary = run_uninstall(plan, options, _sink(args), cancel=cancel, secrets=secrets)
    for line in summary_lines(summary):
        print(line, file=out)
    return _exit_code(summary, cancel)


def _exit_code(summary: RunSummary, cancel: threading.Event) -> int:
    """0 when every node is fine, 130 when Ctrl-C stopped the run (the engine caught it, let
    each node finish or roll back its step, and set ``cancel``), else 1."""
    if cancel.is_set():
        print("kubeha: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if summary.ok else 1
