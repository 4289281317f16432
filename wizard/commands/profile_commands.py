"""``kubeha validate PROFILE`` and ``kubeha render PROFILE --out DIR`` (the folder is written by
:mod:`wizard.render_out`, which never deletes what it did not write)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wizard.commands.loading import read_profile
from wizard.errors import KubehaError
from wizard.problems import errors_in, problem_lines
from wizard.render import build_plan
from wizard.render_out import write_plan
from wizard.textsafe import shown_path
from wizard.validation import validate


def register(subparsers: argparse._SubParsersAction) -> None:
    validate_parser = subparsers.add_parser(
        "validate", help="check a profile and list every problem"
    )
    validate_parser.add_argument("profile", type=Path, help="the profile .toml file")
    validate_parser.set_defaults(func=run_validate)

    render_parser = subparsers.add_parser(
        "render", help="write every node's generated files into a folder, one folder per node"
    )
    render_parser.add_argument("profile", type=Path, help="the profile .toml file")
    render_parser.add_argument("--out", type=out_folder, required=True, help="the folder to write")
    render_parser.set_defaults(func=run_render)


def out_folder(text: str) -> Path:
    """``--out``: a folder path; an empty one (a script's unset variable) is refused rather than
    taken for the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty one")
    return Path(text)


def run_validate(args: argparse.Namespace) -> int:
    profile = read_profile(args.profile)
    problems = validate(profile)
    errors = errors_in(problems)
    warnings = [p for p in problems if not p.is_error]
    for line in problem_lines(warnings):
        print(line)
    for line in problem_lines(errors):
        print(line, file=sys.stderr)
    if errors:
        print(
            f"{args.profile}: {len(errors)} error(s); the profile cannot be used", file=sys.stderr
        )
        return 1
    nodes = len(profile.all_nodes())
    print(
        f"{args.profile}: valid ({profile.strategy}, {len(profile.masters)} master(s), {nodes} node(s)"
        f"{f', {len(problems)} warning(s)' if problems else ''})"
    )
    return 0


def run_render(args: argparse.Namespace) -> int:
    profile = read_profile(args.profile)
    plan = build_plan(profile)
    try:
        written = write_plan(plan, args.out)
    except OSError as exc:
        raise KubehaError(
            f"--out {shown_path(args.out)}: cannot write: {exc.strerror or type(exc).__name__}; "
            "nothing there was changed (any previous render's files were put back)"
        ) from None
    print(
        f"rendered {len(written)} file(s) for {len(plan.nodes)} node(s) into {shown_path(args.out)}"
        " (listed in its .kubeha-render.json)"
    )
    for node_plan in plan.nodes:
        names = ", ".join(f.path for f in node_plan.files) or "(nothing to install: verify only)"
        print(f"  {node_plan.node:<12} {node_plan.role:<7} {names}")
    print(f"  _cluster     kubeconfig server: {plan.server_url}")
    return 0
