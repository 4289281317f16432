"""A problem found in a profile: which field, which value, and what was expected.

Parsing and validation both report problems of this one shape, so the CLI, the wizard and the
tests show them the same way. ``str(problem)`` escapes the field, the value and the expectation
(see ``wizard.textsafe``), since each may hold text from the profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wizard.textsafe import printable, shown


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding about one field. ``field`` is a dotted path such as ``masters[1].address``."""

    field: str
    value: object
    expected: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        """One line, every piece of profile text escaped: no ESC or CR reaches the terminal."""
        value = "(missing)" if self.value is _MISSING else shown(self.value)
        return (
            f"{self.severity.value}: {printable(self.field)}: {value}: {printable(self.expected)}"
        )


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()
MISSING: object = _MISSING


def error(field: str, value: object, expected: str) -> Problem:
    return Problem(field, value, expected, Severity.ERROR)


def warning(field: str, value: object, expected: str) -> Problem:
    return Problem(field, value, expected, Severity.WARNING)


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


PRINTED_MAX = 50  # problems listed on the terminal; the rest are counted


def problem_lines(problems: list[Problem], limit: int = PRINTED_MAX) -> list[str]:
    """One indented line per problem, the first ``limit`` of them, then one line that counts the
    rest (a profile with 10,000 bad entries prints 51 lines, not a megabyte)."""
    lines = [f"  {p}" for p in problems[:limit]]
    rest = problems[limit:]
    if rest:
        kinds = {(p.severity, p.expected) for p in problems[:limit]}
        new = {(p.severity, p.expected) for p in rest} - kinds
        what = "of the same kinds as above" if not new else f"({len(new)} more kind(s) among them)"
        lines.append(f"  ... and {len(rest)} more problem(s) {what}; fix these and run again")
    return lines
