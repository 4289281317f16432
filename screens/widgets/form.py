"""A form of profile fields: each row a label, an input and a one-line hint.

Rows are described by :class:`FieldSpec` (a dotted profile path, a kind, a hint). The form turns
what is typed into a typed value and posts :class:`Form.Edited`; text that is not even the right
type (``abc`` for a port) becomes a :class:`~wizard.problems.Problem` in the same words the
profile reader uses, so the screen can show it beside the validator's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Select, Static

from wizard.problems import Problem, error

KINDS = ("str", "optstr", "int", "optint", "float", "bool", "choice", "secret")


@dataclass(frozen=True)
class FieldSpec:
    path: str  # e.g. "haproxy_keepalived.vip"; for kind "secret", a name the screen knows
    label: str
    hint: str
    kind: str = "str"
    choices: tuple[str, ...] = ()
    placeholder: str = ""

    @property
    def dom_id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("_", "-")


def parse_value(spec: FieldSpec, text: str) -> tuple[Any, Problem | None]:
    """The typed value of ``text`` for ``spec``, or a problem naming what was expected."""
    if spec.kind == "optstr":
        return (text.strip() or None), None
    if spec.kind == "optint" and not text.strip():
        return None, None
    if spec.kind in ("int", "optint"):
        try:
            return int(text.strip()), None
        except ValueError:
            return None, error(spec.path, text, "expected an integer")
    if spec.kind == "float":
        try:
            return float(text.strip()), None
        except ValueError:
            return None, error(spec.path, text, "expected a number")
    return text, None


def show_value(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def onoff(value: bool) -> str:
    return "on" if value else "off"


class FormRow(Horizontal):
    """Label | input | hint, one field of the profile."""

    def __init__(self, spec: FieldSpec, value: Any) -> None:
        super().__init__(classes="form-row")
        self.spec = spec
        self.value = value

    def compose(self) -> ComposeResult:
        spec = self.spec
        yield Label(spec.label, classes="form-label")
        if spec.kind == "bool":
            # the word says it: a compact box looks alike on and off in 16-colour themes
            yield Checkbox(onoff(bool(self.value)), bool(self.value), id=spec.dom_id, compact=True)
        elif spec.kind == "choice":
            yield Select(
                [(c, c) for c in spec.choices],
                value=self.value if self.value in spec.choices else Select.NULL,
                allow_blank=False,
                id=spec.dom_id,
                compact=True,
            )
        else:
            yield Input(
                show_value(self.value),
                placeholder=spec.placeholder,
                password=spec.kind == "secret",
                id=spec.dom_id,
                compact=True,
            )
        yield Static(spec.hint, classes="form-hint", markup=False)


class Form(VerticalScroll):
    """The rows of a form, optionally under section headings."""

    class Edited(Message):
        """A field changed: the typed value, or the problem with what was typed."""

        def __init__(self, spec: FieldSpec, value: Any, problem: Problem | None) -> None:
            super().__init__()
            self.spec = spec
            self.value = value
            self.problem = problem

    def __init__(
        self, sections: Sequence[tuple[str, Sequence[FieldSpec]]], values: dict[str, Any], **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.sections = sections
        self.values = values
        self.specs = {spec.dom_id: spec for _, specs in sections for spec in specs}

    def compose(self) -> ComposeResult:
        for heading, specs in self.sections:
            if heading:
                yield Static(heading, classes="form-heading")
            for spec in specs:
                yield FormRow(spec, self.values.get(spec.path))

    def _edited(self, widget_id: str | None, raw: Any) -> None:
        spec = self.specs.get(widget_id or "")
        if spec is None:
            return
        if spec.kind in ("bool", "choice"):
            self.post_message(self.Edited(spec, raw, None))
            return
        value, problem = parse_value(spec, raw)
        self.post_message(self.Edited(spec, value, problem))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._edited(event.input.id, event.value)

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        event.checkbox.label = onoff(event.value)
        self._edited(event.checkbox.id, event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL:
            self._edited(event.select.id, event.value)
