"""A strategy's settings described once: each field of its profile section carries its label,
its one-line help, its kind and its choices, and the wizard's form and the validator both read
them from here.

A section is a frozen dataclass whose fields are declared with :func:`described`; its type hint
gives the kind (``int``, ``bool``, ``str``; ``choice`` when it has choices) and its default is
the dataclass default, so the TOML reader, the form and the checks never disagree.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from wizard.problems import Problem, error

_META = "kubeha"
# The form's kinds (screens.widgets.form.KINDS) by the Python type of the field.
_KINDS: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


@dataclass(frozen=True)
class Description:
    """What :func:`described` attaches to a dataclass field."""

    label: str
    help: str
    choices: tuple[str, ...] = ()
    placeholder: str = ""


@dataclass(frozen=True)
class FieldInfo:
    """One setting of a strategy's section, as the form shows it and the checks read it."""

    name: str  # the key in the section, e.g. "listen_port"
    label: str
    help: str
    kind: str  # "str", "optstr", "int", "optint", "float", "bool" or "choice"
    default: Any
    choices: tuple[str, ...] = ()
    placeholder: str = ""

    def path(self, section: str) -> str:
        """The dotted profile path, e.g. ``local_nginx.listen_port``."""
        return f"{section}.{self.name}"


def described(
    default: Any, label: str, help: str, *, choices: tuple[str, ...] = (), placeholder: str = ""
) -> Any:
    """A dataclass field with its default and its description (label, help, choices)."""
    return dataclasses.field(
        default=default,
        metadata={_META: Description(label, help, tuple(choices), placeholder)},
    )


def _kind(hint: Any, choices: tuple[str, ...]) -> str:
    optional = False
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    if choices:
        return "choice"
    kind = _KINDS.get(hint, "str")
    return f"opt{kind}" if optional and kind in ("str", "int") else kind


def fields_of(section_type: type) -> tuple[FieldInfo, ...]:
    """The described fields of a section dataclass, in declaration order (read once a type)."""
    return _described(section_type)


@functools.cache
def _described(section_type: Any) -> tuple[FieldInfo, ...]:
    hints = typing.get_type_hints(section_type)
    infos = []
    for f in dataclasses.fields(section_type):
        about = f.metadata.get(_META)
        if about is None:
            raise TypeError(f"{section_type.__name__}.{f.name}: declare it with described()")
        infos.append(
            FieldInfo(
                f.name,
                about.label,
                about.help,
                _kind(hints[f.name], about.choices),
                f.default,
                about.choices,
                about.placeholder,
            )
        )
    return tuple(infos)


def field_info(section_type: type, name: str) -> FieldInfo:
    """The described field ``name`` of a section dataclass."""
    for info in fields_of(section_type):
        if info.name == name:
            return info
    raise KeyError(f"{section_type.__name__} has no field {name!r}")


def check_choice(problems: list[Problem], path: str, value: Any, info: FieldInfo) -> bool:
    """An error unless ``value`` is one of the field's choices; True when it is."""
    if value in info.choices:
        return True
    problems.append(error(path, value, f"expected one of {', '.join(info.choices)}"))
    return False
