"""The JSON that kubeha prints with ``--json`` and writes to a run's ``events.jsonl``.

Every line is one JSON object with ``schema_version`` and ``kind`` (``event``, ``verify``,
``drill``), documented in docs/JSON.md. ``JSON_SCHEMA_VERSION`` goes up when a field changes
meaning or goes away; a new field does not change it, so readers must ignore keys they do not
know.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import PurePath
from typing import Any

JSON_SCHEMA_VERSION = 1


def plain(value: Any) -> Any:
    """``value`` as JSON types. A dataclass becomes an object of its fields, plus ``ok`` when its
    class has an ``ok`` property (verify and drill results and their nodes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        ok = getattr(type(value), "ok", None)
        if isinstance(ok, property) and ok.fget is not None:
            data["ok"] = bool(ok.fget(value))
        return data
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def json_line(kind: str, data: Any) -> str:
    """One line of kubeha's JSON: ``data`` (a dict or a dataclass) with its kind and version."""
    body = plain(data)
    return json.dumps({**body, "schema_version": JSON_SCHEMA_VERSION, "kind": kind}, sort_keys=True)
