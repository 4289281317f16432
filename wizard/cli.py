"""The ``kubeha`` command: parses arguments and hands each subcommand to its module.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func(args) -> int``. Any :class:`~wizard.errors.KubehaError` becomes a one-paragraph message on
stderr and its exit code; nothing reaches the operator as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from wizard import __version__
from wizard.commands import wizard_command
from wizard.errors import EXIT_INTERRUPTED, EXIT_USAGE, KubehaError
from wizard.terminal import guarded_output
from wizard.textsafe import printable

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "wizard.commands.profile_commands",
    "wizard.lab.cli",
    "wizard.commands.apply_commands",
    "wizard.commands.verify_command",
    "wizard.commands.status_command",
    "wizard.commands.masters_command",
    "wizard.commands.wizard_command",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the problem and exit 2, as argparse does, tidily:
    the usage shown is the one of the (sub)command that was given, not kubeha's."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes a bad value with repr() but joins unrecognized arguments raw: escape
        # the whole message, so no argument can drive the operator's terminal.
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {printable(message)}\n")


def parse(parser: argparse.ArgumentParser, args: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args(args)``, with an unrecognized argument blamed on the subcommand that
    was given (its usage shown), as argparse would blame the top-level parser."""
    parsed, extras = parser.parse_known_args(args)
    if extras:
        hint = (
            " (--only takes one node: repeat it, --only m1 --only m2, or --only m1,m2)"
            if getattr(parsed, "only", None)
            else ""
        )
        innermost(parser, parsed).error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    return parsed


def innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the deepest subcommand named in ``args`` (``kubeha lab up`` -> lab up's)."""
    for _ in range(8):  # subcommands nest two deep; bounded all the same
        action = next(
            (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        child = action.choices.get(getattr(args, action.dest, None) or "") if action else None
        if child is None:
            break
        parser = child
    return parser


WIZARD_MODULE = "wizard.commands.wizard_command"


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubeha",
        description="Make a Kubernetes control plane highly available.",
    )
    parser.add_argument("--version", action="version", version=f"kubeha {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command family that is not built yet
            raise
        module.register(subparsers)
    return parser


def modules_for(argv: Sequence[str]) -> Sequence[str]:
    """The command modules a command line needs: ``kubeha`` and ``kubeha wizard ...`` load only
    the wizard's, so the wizard starts without the renderer, the lab or the engine."""
    if not argv or argv[0] == "wizard":
        return (WIZARD_MODULE,)
    return COMMAND_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(modules_for(argv))
    args = parse(parser, argv)
    func = getattr(args, "func", None)
    if func is None:
        if not wizard_command.has_terminal():  # the wizard would wait for keys nobody types
            parser.print_usage(sys.stderr)
            print(f"kubeha: {wizard_command.NO_TERMINAL}", file=sys.stderr)
            return EXIT_USAGE
        # No subcommand: the wizard when it exists, otherwise help.
        wizard_parser = subparsers_choice(parser, "wizard")
        if wizard_parser is None:
            parser.print_help()
            return 0
        args = parse(parser, ["wizard"])
        func = args.func
    if func is wizard_command.run_wizard:  # Textual owns the terminal: it draws escapes itself
        return _run(func, args)
    with guarded_output():  # every command's output escaped, a closed pipe quiet
        return _run(func, args)


def _run(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    try:
        return int(func(args) or 0)
    except KubehaError as exc:
        print(f"kubeha: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kubeha: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def subparsers_choice(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None
