"""``kubeha wizard [PROFILE]``: the Textual installer (also what ``kubeha`` alone opens).

Textual and ``screens`` are imported inside the command only, so every other command (and the
whole ``wizard`` core) stays free of Textual and fast to start.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from wizard.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "wizard", help="the interactive installer (the default when no command is given)"
    )
    parser.add_argument(
        "profile",
        nargs="?",
        type=Path,
        help="a profile to open (a .toml file, or the name of a saved profile)",
    )
    parser.set_defaults(func=run_wizard)


def ansi_theme() -> str | None:
    """The ANSI theme when the terminal has only 16 colours, so every colour stays readable."""
    if os.environ.get("COLORTERM") in ("truecolor", "24bit"):
        return None
    term = os.environ.get("TERM", "")
    if "256color" in term or "direct" in term:
        return None
    return "ansi-dark"


NO_TERMINAL = (
    "the wizard needs a terminal (stdin and stdout here are not one): run a command instead, "
    "e.g. kubeha validate PROFILE, kubeha apply PROFILE --yes; kubeha --help lists them all"
)


def has_terminal() -> bool:
    """True when both stdin and stdout are a terminal, as the wizard needs."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_wizard(args: argparse.Namespace) -> int:
    if not has_terminal():  # a Textual app without one would wait forever
        raise UsageError(NO_TERMINAL)
    # Starting allocates much and frees little: no garbage collection until the first screen
    # is up (screens.registry.import_all freezes what is alive then and turns it back on).
    gc.disable()
    from screens.app import make_app

    app = make_app(args.profile, theme=ansi_theme())
    app.run()
    return int(app.return_code or 0)
