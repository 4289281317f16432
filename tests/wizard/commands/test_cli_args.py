"""What ``kubeha``'s argument parsing tells the operator: no internal names, help for every
option, the subcommand's own usage on a mistake, and no wizard (nor a hang) without a terminal."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.cli import build_parser, main

REPO = Path(__file__).resolve().parents[3]


def _parsers(parser: argparse.ArgumentParser, name: str = "kubeha"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


ALL = list(_parsers(build_parser()))


def test_every_command_is_reached():
    names = {name for name, _ in ALL}
    for command in ("validate", "render", "apply", "uninstall", "verify", "wizard", "lab up"):
        assert f"kubeha {command}" in names


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[n for n, _ in ALL])
def test_no_internal_names_and_help_for_every_option(name, parser):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        kind = getattr(action.type, "__name__", "")
        assert not kind.startswith("_") and kind not in ("parse", "<lambda>"), (name, kind)
        if action.option_strings and name.split()[1:2] in (
            ["apply"],
            ["uninstall"],
            ["verify"],
            ["validate"],
            ["render"],
        ):
            assert action.help, f"{name} {action.option_strings[0]} has no help"


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["apply", "p.toml", "--concurrency", "x"], "'x': expected a whole number from 1 to 256"),
        (
            ["uninstall", "p.toml", "--concurrency", "0"],
            "'0': expected a whole number from 1 to 256",
        ),
        (["lab", "up", "--masters", "many"], "'many': expected a whole number from 1"),
        # An unset $OUT in a script: not the current folder.
        (["render", "p.toml", "--out", ""], "expected a folder path, got an empty one"),
    ],
)
def test_type_errors_say_what_is_expected(argv, text, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert text in err
    assert "_concurrency" not in err and "invalid parse value" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "p.toml", "extra"],
        ["render", "p.toml", "--out", "d", "extra"],
        ["apply", "p.toml", "extra"],
        ["uninstall", "p.toml", "--yes", "extra"],
        ["verify", "p.toml", "extra", "--json"],
        ["lab", "up", "extra"],
        ["lab", "kill-apiserver", "m1", "m2"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_extra_argument_shows_the_subcommands_usage(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    command = " ".join(a for a in argv[:2] if not a.endswith(".toml"))
    assert caught.value.code == 2
    assert err.startswith(f"usage: kubeha {command}"), err
    assert f"kubeha {command}: error: unrecognized arguments:" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "p.toml", "--\x1b[2J\x1b]0;pwned\x07"],
        ["apply", "p.toml", "x\x1b[2J\u202e"],
        ["lab", "up", "\x9b31m"],
    ],
    ids=["unknown-option", "extra-argument", "lab-up-c1"],
)
def test_unrecognized_arguments_are_printed_escaped(argv, capsys):
    """An argument with terminal control characters (pasted, or from a script) is named escaped:
    argparse would print it raw and the terminal would run it (clear, retitle, forge lines)."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert "unrecognized arguments:" in err
    assert "\\x1b[2J" in err or "\\x9b" in err, err
    assert not any(c in err for c in "\x1b\x07\x9b\u202e"), repr(err)


def _kubeha_without_a_terminal(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBEHA_CONFIG_DIR": str(tmp_path / "c"),
        "KUBEHA_STATE_DIR": str(tmp_path / "s"),
    }
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,  # stdout and stderr are pipes, not a terminal
        text=True,
        timeout=60,  # the bug was a hang: a timeout fails the test
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("args", [(), ("wizard",), ("wizard", "local-nginx")], ids=str)
def test_no_terminal_prints_usage_and_exits_2(args, tmp_path):
    result = _kubeha_without_a_terminal(*args, tmp_path=tmp_path)
    assert result.returncode == 2, result
    assert "needs a terminal" in result.stderr
    assert "\x1b" not in result.stdout + result.stderr  # no screen was drawn
    assert "Traceback" not in result.stderr
    if not args:
        assert result.stderr.startswith("usage: kubeha")
