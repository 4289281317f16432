"""Saving a profile over the file it came from without losing the operator's comments.

``update_text`` edits an existing TOML document (parsed with tomlkit) to hold a profile's
values: only the keys whose values changed are rewritten, a key the file leaves out stays out
while its value is still the default, nodes are matched by name, only the chosen strategy's
tables and the tables set aside for other strategies (``Profile.set_aside``, kept as written)
are kept, and every comment, blank line and key order of the file stays where it was. ``write_profile`` writes atomically (a temp file
in the same folder, then ``os.replace``) and keeps the file's mode; a new file is written with
tomli-w (``wizard.profile_io.dump_profile``).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from wizard.errors import KubehaError
from wizard.paths import make_private_dirs
from wizard.profile import Profile
from wizard.profile_io import dump_profile, parse_profile_text, plain_profile, read_profile_text
from wizard.strategies import registry

NODE_GROUPS = ("masters", "workers", "lb_nodes")
NEW_FILE_MODE = 0o644


def _value(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _inline(value: dict[str, Any]) -> InlineTable:
    table = tomlkit.inline_table()
    table.update(value)
    return table


def _merge(table: Any, new: dict[str, Any], old: dict[str, Any], *, in_node: bool) -> None:
    """Make ``table`` (a tomlkit table, inline or not) hold ``new``; ``old`` is what the file
    meant before (defaults included), so a key it omits is added only when its value moved."""
    for key in [k for k in table if k not in new]:
        del table[key]  # None now: TOML says that by leaving the key out
    for key, value in new.items():
        if key in table:
            current = table[key]
            if isinstance(value, dict) and isinstance(current, Table | InlineTable):
                if value:
                    _merge(current, value, old.get(key) or {}, in_node=in_node)
                else:
                    del table[key]  # every value at its default
            elif key in NODE_GROUPS and isinstance(current, AoT | Array) and not in_node:
                table[key] = _nodes(current, value, old.get(key) or [])
            elif _value(current) != value:
                table[key] = value
        elif value != old.get(key) and value not in ({}, []):
            if key in NODE_GROUPS and not in_node:
                table[key] = _nodes(tomlkit.aot(), value, [])
            else:
                table[key] = _inline(value) if in_node and isinstance(value, dict) else value


def _nodes(current: AoT | Array, new: list[dict[str, Any]], old: list[dict[str, Any]]) -> Any:
    """The node list, each node that kept its name edited in place with its comments."""
    kept = {_value(item).get("name"): item for item in current if isinstance(item, dict)}
    before = {node.get("name"): node for node in old}
    same_order = [node["name"] for node in new] == list(kept)
    if isinstance(current, AoT):
        items: Any = current if same_order else tomlkit.aot()
    else:
        items = current if same_order else tomlkit.array()
    for node in new:
        item = kept.get(node["name"])
        if item is None:
            item = tomlkit.table() if isinstance(current, AoT) else tomlkit.inline_table()
            _merge(item, node, {}, in_node=True)
        else:
            _merge(item, node, before.get(node["name"], {}), in_node=True)
        if not same_order:
            items.append(item)
    return items


def update_text(text: str, profile: Profile) -> str | None:
    """``text`` (a profile file) changed to hold ``profile``, its layout and comments kept,
    a table of another strategy that the profile does not set aside dropped; None when the text
    is not a profile this can edit (then write a new file instead)."""
    old = parse_profile_text(text).profile
    if old is None:
        return None
    try:
        document = tomlkit.parse(text)
        new = plain_profile(profile)
        _merge(document, new, plain_profile(old), in_node=False)
        chosen = registry.find(profile.strategy)
        section = chosen.section if chosen else ""  # a new strategy's section, spelled out
        changed = old.strategy != profile.strategy
        if changed and section and section not in document and isinstance(new.get(section), dict):
            document[section] = new[section]
        for table in chosen.tables if changed and chosen is not None else ():
            if table.name not in document and isinstance(new.get(table.name), dict):
                document[table.name] = new[table.name]
        updated = tomlkit.dumps(document)
    except (TOMLKitError, KeyError, TypeError, ValueError):
        return None
    # The safety net: what is written must read back as exactly this profile.
    return updated if parse_profile_text(updated).profile == profile else None


def _write_atomically(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_profile(
    profile: Profile,
    path: str | Path,
    *,
    keep_layout: bool = True,
    template: str | Path | None = None,
) -> Path:
    """Write ``profile`` to ``path`` atomically (the tables it sets aside as they were written). An existing file keeps its mode and,
    with ``keep_layout``, its comments and layout; with a ``template`` (the file a renamed
    profile or a shipped example came from, left as it is) the new text is that file's, edited,
    comments included; otherwise the file is written anew (mode 0644)."""
    path = Path(path)
    make_private_dirs(path.parent)  # a new folder: 0700, parents too, whatever the umask
    mode, text = NEW_FILE_MODE, None
    if path.is_file():
        mode = stat.S_IMODE(path.stat().st_mode)
    source = Path(template) if template is not None else (path if keep_layout else None)
    if source is not None and source.is_file():
        try:
            text = update_text(read_profile_text(source), profile)
        except KubehaError:
            text = None  # unreadable now: written anew
    _write_atomically(path, text if text is not None else dump_profile(profile), mode)
    return path
