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
