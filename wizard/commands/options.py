"""Arguments that several commands share, declared once: the profile, and how to connect."""

from __future__ import annotations

import argparse
from pathlib import Path


def profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profile", type=Path, help="a profile .toml file, or the name of a saved profile"
    )


def connection_options(parser: argparse.ArgumentParser) -> None:
    """Host keys and sudo: every command that connects to the nodes takes these."""
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


def port_number(text: str) -> int:
    """A TCP port option's value, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a TCP port, 1-65535")
    return port
