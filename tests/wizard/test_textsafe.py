"""wizard.textsafe: profile text escaped before it reaches a terminal, values shown bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wizard.problems import error
from wizard.textsafe import printable, shown


def test_printable_escapes_like_repr_and_keeps_the_rest():
    assert printable("masters[0].address") == "masters[0].address"
    assert printable("a b") == "a b"
    assert printable("a\nb\r\t\x1b[2J\x07") == "a\\nb\\r\\t\\x1b[2J\\x07"
    assert printable("x\u202ey\u200bz") == "x\\u202ey\\u200bz"
    assert printable("\U000e0041") == "\\U000e0041"
    assert printable("café ✓") == "café ✓"


@given(st.text())
def test_printable_output_is_always_printable(text):
    assert printable(text).isprintable()


@given(
    st.recursive(st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
)
def test_shown_is_bounded_and_printable(value):
    text = shown(value)
    assert len(text) <= 80 and text.isprintable()


def test_shown_survives_deep_nesting_and_huge_values():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert shown(deep).startswith("[[[")
    assert len(shown("x" * 10_000_000)) == 80
    assert shown("10.0.0.300") == "'10.0.0.300'"


def test_problem_text_is_escaped_everywhere():
    problem = error("k\x1b[31m", "v\r", "expected \x1b]0;t\x07")
    assert str(problem) == "error: k\\x1b[31m: 'v\\r': expected \\x1b]0;t\\x07"
