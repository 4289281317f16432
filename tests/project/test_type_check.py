"""The type checker (mypy, configured in pyproject.toml's ``[tool.mypy]``) passes over wizard/
and screens/: the design rests on Protocols and Generics (``Strategy[S]``, ``Table[T]``,
``Phase[J]``), which only a checker reads. A ``type: ignore`` is allowed only with its reason
beside it, and none is needed today.

mypy keeps its cache in the worktree's ``.mypy_cache``: a warm run takes about a second, a cold
one about 10 s on a loaded 2-core machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("wizard", "screens")
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$")
MAX_IGNORES = 0  # lower it when one goes; never raise it without a reason in the line


def test_mypy_finds_no_error_in_the_product() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(REPO / ".mypy_cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout


def ignores() -> list[tuple[str, str]]:
    """(file:line, what follows the ignore) of every ``type: ignore`` in the product."""
    found = []
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = IGNORE.search(line)
                if match:
                    where = f"{path.relative_to(REPO)}:{number}"
                    found.append((where, match["rest"]))
    return found


def test_every_type_ignore_names_its_code_and_reason_and_none_is_new() -> None:
    found = ignores()
    bare = [where for where, rest in found if not re.match(r"\[[a-z-, ]+\]\s*#\s*\S", rest)]
    assert not bare, f"a type: ignore needs [its-code] and '# the reason' beside it: {bare}"
    assert len(found) <= MAX_IGNORES, f"{len(found)} type: ignore (at most {MAX_IGNORES}): {found}"


def test_the_scan_sees_an_ignore_and_its_reason() -> None:
    line = "x = f()  # type: ignore[attr-defined]  # Textual's private attribute"
    match = IGNORE.search(line)
    assert match and re.match(r"\[[a-z-, ]+\]\s*#\s*\S", match["rest"])
