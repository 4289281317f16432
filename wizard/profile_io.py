"""Read and write profiles as TOML: tomllib in, tomli-w out, an exact round trip.

Parsing never raises on bad input: it returns the profile or the list of problems, each naming
the field (``masters[1].address``), the value and what was expected. An unknown key is a problem
too, so a typo never silently falls back to a default.

Reading takes only a regular file of at most ``MAX_PROFILE_BYTES`` (a FIFO, a device such as
/dev/zero or a huge file would hang or exhaust memory), and TOML nested deeper than the parser's
recursion is a problem, not a traceback. Every path and profile text in a message is escaped.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import tempfile
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from wizard.errors import KubehaError
from wizard.paths import make_private_dirs
from wizard.problems import MISSING, Problem, error, problem_lines
from wizard.profile import SCHEMA_VERSION, Clients, Cluster, Profile, Tables
from wizard.strategies import registry
from wizard.textsafe import printable

MAX_PROFILE_BYTES = 1024 * 1024  # a real profile of 5,000 nodes is about 300 KiB


class ProfileError(KubehaError):
    """A profile that cannot be read; ``problems`` says every reason."""

    exit_code = 1

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(problem_lines(problems))
        super().__init__(
            f"{printable(source)}: the profile has {len(problems)} problem(s):\n{lines}"
        )


@dataclasses.dataclass(frozen=True)
class ParseResult:
    profile: Profile | None
    problems: list[Problem]


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(args[0])
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(inner):
            return "an array of tables"
        return f"an array of {_describe(inner).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return _TYPE_WORDS.get(tp, str(tp))


def _convert(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    """Turn a TOML value into ``tp``; on a mismatch record a problem and return MISSING."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value, path, problems)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            problems.append(error(path, value, f"expected {_describe(tp)}"))
            return MISSING
        items = [_convert(inner, item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
        return MISSING if any(item is MISSING for item in items) else tuple(items)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(error(path, value, "expected a table"))
            return MISSING
        return _build(tp, value, path, problems, {})
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(error(path, value, "expected a number"))
            return MISSING
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(error(path, value, "expected an integer"))
            return MISSING
        return value
    if not isinstance(value, tp):
        problems.append(error(path, value, f"expected {_describe(tp)}"))
        return MISSING
    return value


def _profile_fields(own: dict[str, type]) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """The Profile's TOML keys as (type hints, fields): its own fields, with ``tables`` spelled
    out as the chosen strategy's tables (``own``: its section, local-nginx's ``install``)."""
    hints = typing.get_type_hints(Profile)
    known: dict[str, dataclasses.Field] = {}
    for f in dataclasses.fields(Profile):
        if f.name == "set_aside":
            continue
        if f.name != "tables":
            known[f.name] = f
            continue
        for name, table in own.items():
            known[name] = dataclasses.field(default_factory=table)
            hints[name] = table
    return hints, known


def _unknown_key(where: str, value: Any) -> Problem:
    """A key no profile has: the message lists every key a profile may hold (every strategy's
    tables among them)."""
    keys = [f.name for f in dataclasses.fields(Profile) if f.name != "set_aside"]
    at = keys.index("tables")
    keys[at : at + 1] = registry.tables()
    return error(where, value, f"unknown key; expected one of: {', '.join(keys)}")


def _build(
    cls: Any, data: dict[str, Any], prefix: str, problems: list[Problem], own: dict[str, type]
) -> Any:
    if cls is Profile:
        hints, known = _profile_fields(own)
    else:
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    ok = True
    for key in data:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            if cls is Profile:
                problems.append(_unknown_key(where, data[key]))
            else:
                problems.append(
                    error(where, data[key], f"unknown key; expected one of: {', '.join(known)}")
                )
            ok = False
    for name, f in known.items():
        where = f"{prefix}.{name}" if prefix else name
        if name not in data:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                problems.append(error(where, MISSING, f"required: {_describe(hints[name])}"))
                ok = False
            continue
        value = _convert(hints[name], data[name], where, problems)
        if value is MISSING:
            ok = False
        else:
            kwargs[name] = value
    if cls is Profile:
        kwargs["tables"] = {name: kwargs.pop(name) for name in own if name in kwargs}
    return cls(**kwargs) if ok else MISSING


def table_from_toml(kind: type, value: Any, name: str) -> Any:
    """The table ``name`` of type ``kind`` read from its TOML value, or MISSING when the value
    is not one (wrong types, unknown keys)."""
    return _convert(kind, value, name, [])


def _set_aside(data: dict[str, Any], own: dict[str, type]) -> dict[str, Any]:
    """The migration of a file's tables of other strategies than the chosen one (kubeha before
    profiles held only the chosen strategy's tables wrote every strategy's): a table at its
    defaults says nothing and is dropped; any other is set aside as written (never used,
    written back as it is: ``Profile.set_aside``)."""
    aside: dict[str, Any] = {}
    for name, kind in registry.tables().items():
        if name in own or name not in data:
            continue
        value = data[name]
        read = table_from_toml(kind, value, name)
        if read is MISSING or read != kind():
            aside[name] = value
    return aside


def profile_from_dict(data: dict[str, Any]) -> ParseResult:
    """Build a Profile from parsed TOML; every type problem and unknown key is reported. Tables
    of strategies other than the chosen one are set aside (``_set_aside``)."""
    problems: list[Problem] = []
    version = data.get("schema_version", MISSING)
    if version is not MISSING and version != SCHEMA_VERSION:
        problems.append(
            error("schema_version", version, f"expected {SCHEMA_VERSION} (this kubeha's schema)")
        )
        return ParseResult(None, problems)
    key = data.get("strategy")
    chosen = registry.find(key) if isinstance(key, str) else None
    own = chosen.owned_tables() if chosen is not None else {}
    aside = _set_aside(data, own)
    others = set(registry.tables()) - set(own)
    core = {k: v for k, v in data.items() if k not in others}
    profile = _build(Profile, core, "", problems, own)
    if profile is MISSING:
        return ParseResult(None, problems)
    return ParseResult(dataclasses.replace(profile, set_aside=aside), problems)


def with_strategy(
    profile: Profile, key: str, stash: dict[str, object], file_aside: Mapping[str, object]
) -> Profile:
    """``profile`` with the strategy named ``key``, as the wizard's strategy step switches back
    and forth without losing what the operator typed. The tables of the strategy left go to
    ``stash`` (the session's), except those its file had set aside (``file_aside``), which are
    set aside again: as the file wrote them when unchanged, else as they are now (when they say
    something). The new strategy's
    tables come from the set-aside tables (used again), else from ``stash``, else defaults."""
    if key == profile.strategy:
        return profile
    aside = dict(profile.set_aside)
    left = registry.find(profile.strategy)
    for name, kind in (left.owned_tables() if left is not None else {}).items():
        value: object = profile.table(name, kind)
        if name not in file_aside:
            stash[name] = value
        elif value == table_from_toml(kind, file_aside[name], name):
            aside[name] = file_aside[name]  # unchanged: as the file wrote it
        elif value != kind():
            aside[name] = _plain(value)
    chosen = registry.find(key)
    tables: dict[str, object] = {}
    for name, kind in (chosen.owned_tables() if chosen is not None else {}).items():
        read = table_from_toml(kind, aside[name], name) if name in aside else MISSING
        if read is not MISSING:
            tables[name] = read
            del aside[name]
        elif name in stash:
            tables[name] = stash[name]
    return dataclasses.replace(profile, strategy=key, tables=tables, set_aside=aside)


def parse_profile_text(text: str, source: str = "<profile>") -> ParseResult:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return ParseResult(None, [error(source, MISSING, f"not valid TOML: {exc}")])
    except ValueError as exc:  # int() of a number longer than Python's digit limit
        reason = "a number with too many digits" if "digits" in str(exc) else printable(exc)
        return ParseResult(None, [error(source, MISSING, f"not valid TOML: {reason}")])
    except RecursionError:
        return ParseResult(
            None,
            [
                error(
                    source,
                    MISSING,
                    "arrays or tables nested too deeply to read: expected a profile, "
                    "whose tables nest at most three levels",
                )
            ],
        )
    return profile_from_dict(data)


_NOT_REGULAR = (
    (stat.S_ISDIR, "is a folder"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def _refuse_unless_regular(shown: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    what = next((text for test, text in _NOT_REGULAR if test(mode)), "is not a regular file")
    raise KubehaError(f"{shown}: {what}, expected a profile .toml file")


def _read_capped(path: Path, shown: str) -> bytes:
    """The bytes of a regular file of at most MAX_PROFILE_BYTES; anything else is refused before
    it is read (stat first, then open without blocking and stat again: no FIFO can hang us)."""
    _refuse_unless_regular(shown, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        _refuse_unless_regular(shown, os.fstat(fd).st_mode)
        data = handle.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise KubehaError(
            f"{shown}: larger than {MAX_PROFILE_BYTES // 1024} KiB, "
            f"expected a profile .toml file of at most {MAX_PROFILE_BYTES} bytes"
        )
    return data


def read_profile_text(path: Path) -> str:
    """The profile's text, or a KubehaError naming the path and what was expected."""
    shown = printable(path)
    try:
        data = _read_capped(path, shown)
    except FileNotFoundError:
        raise KubehaError(f"{shown}: no such profile file") from None
    except IsADirectoryError:
        raise KubehaError(f"{shown}: is a folder, expected a profile .toml file") from None
    except PermissionError:
        raise KubehaError(f"{shown}: permission denied reading the profile") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubehaError(f"{shown}: cannot read the profile: {printable(reason)}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KubehaError(f"{shown}: not UTF-8 text, expected a TOML profile") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode read it


def find_profile(name: str | Path) -> Path:
    """A path as given when it exists; else a bare name looked up as ``NAME.toml`` in the user's
    profile folder, then in the examples shipped in ``profiles/``. A saved profile that exists but
    is not a regular file is returned as it is, for reading to refuse it by name."""
    path = Path(name)
    if os.path.lexists(path) or path.suffix or len(path.parts) > 1:
        return path
    from wizard.paths import EXAMPLE_PROFILES_DIR, user_profiles_dir

    for folder in (user_profiles_dir(), EXAMPLE_PROFILES_DIR):
        candidate = folder / f"{name}.toml"
        if os.path.lexists(candidate):
            return candidate
    return path


def load_profile(path: str | Path) -> Profile:
    """Read a profile file; raise ProfileError listing every problem if it cannot be built."""
    path = find_profile(path)
    result = parse_profile_text(read_profile_text(path), str(path))
    if result.profile is None:
        raise ProfileError(str(path), result.problems)
    return result.profile


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None:
                continue  # TOML has no null: an absent key means None
            if isinstance(item, Tables):  # a profile's tables: a table each, by its name
                out.update((name, _plain(table)) for name, table in item.items())
                continue
            out[f.name] = _plain(item)
        return out
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def plain_profile(profile: Profile) -> dict[str, Any]:
    """The profile as TOML values, keyed as a file holds them: every table of its strategy
    spelled out (at its defaults where the profile leaves it out), the set-aside ones as
    written."""
    out: dict[str, Any] = _plain(profile)
    chosen = registry.find(profile.strategy)
    for name, kind in (chosen.owned_tables() if chosen is not None else {}).items():
        out.setdefault(name, _plain(profile.table(name, kind)))
    return out


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """A TOML-ready dict: the chosen strategy's section, the health check, its other tables,
    the rest, then the tables set aside for other strategies as they were written; empty
    per-node ssh overrides are left out."""
    data = plain_profile(profile)
    ordered: dict[str, Any] = {
        "schema_version": data.pop("schema_version"),
        "name": data.pop("name"),
        "strategy": data.pop("strategy"),
    }
    for group in ("masters", "workers", "lb_nodes"):
        nodes = data.pop(group)
        for node in nodes:
            if not node.get("ssh"):
                node.pop("ssh", None)
        if nodes or group == "masters":
            ordered[group] = nodes
    chosen = registry.find(profile.strategy)
    aside = {name: data.pop(name) for name in profile.set_aside}
    tables: dict[str, Any] = {}  # the chosen strategy's other tables: after the health check
    for name in profile.tables if chosen is None else chosen.owned_tables():
        if chosen is not None and name == chosen.section:
            ordered[name] = data.pop(name)
        else:
            tables[name] = data.pop(name)
    ordered["health_check"] = data.pop("health_check")
    ordered.update(tables)
    if profile.clients == Clients():  # absent: no client repointing, as before [clients]
        data.pop("clients", None)
    if profile.cluster == Cluster():  # absent: the defaults, as before [cluster]
        data.pop("cluster", None)
    ordered.update(data)
    ordered.update(aside)
    return ordered


def dump_profile(profile: Profile) -> str:
    return tomli_w.dumps(profile_to_dict(profile))


def save_profile(profile: Profile, path: str | Path) -> Path:
    """Write atomically (temp file in the same folder, then rename), mode 0644."""
    path = Path(path)
    make_private_dirs(path.parent)  # a new folder: 0700, parents too, whatever the umask
    text = dump_profile(profile)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
