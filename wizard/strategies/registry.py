"""The one list of strategies: every list of strategies, profile sections, wizard cards and form
fields in kubeha comes from here, in this order (the order the wizard shows them).

A new strategy is one module or package under ``wizard/strategies/`` (its section, its other
tables, its build, its templates' plan) with a module-level ``STRATEGY``, and
one line in ``MODULES`` below (a dotted path names a package elsewhere, as a test's may).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Any

from wizard.errors import UsageError
from wizard.packages import Package
from wizard.strategies.base import Strategy

MODULES = (
    "local_nginx",
    "haproxy_keepalived",
    "ipvs",
    "local_haproxy",
)


def load(module: str) -> Strategy[Any]:
    """The ``STRATEGY`` of one line of ``MODULES``: a module under ``wizard.strategies``, or a
    dotted path to one elsewhere."""
    strategy: Strategy[Any] = import_module(
        module if "." in module else f"wizard.strategies.{module}"
    ).STRATEGY
    return strategy


def loaded(modules: Iterable[str]) -> dict[str, Strategy[Any]]:
    """Every strategy of ``modules`` by its key, in their order."""
    return {strategy.key: strategy for strategy in map(load, modules)}


STRATEGIES: dict[str, Strategy[Any]] = loaded(MODULES)


class UnknownStrategy(UsageError):
    """A strategy name that no registered strategy has."""


def tables() -> dict[str, type]:
    """Every table a strategy owns in a profile (its section, then its other tables), by name,
    in the registry's order; a table two strategies name is one table."""
    found: dict[str, type] = {}
    for strategy in STRATEGIES.values():
        for name, kind in strategy.owned_tables().items():
            found.setdefault(name, kind)
    return found


def owner(table: str) -> Strategy[Any] | None:
    """The first strategy that owns the table named ``table``, or None."""
    return next((s for s in STRATEGIES.values() if table in s.owned_tables()), None)


def names() -> tuple[str, ...]:
    """Every strategy's profile name, e.g. ("local-nginx", "haproxy-keepalived", "ipvs")."""
    return tuple(STRATEGIES)


def strategies() -> tuple[Strategy[Any], ...]:
    return tuple(STRATEGIES.values())


def find(key: str) -> Strategy[Any] | None:
    """The strategy named ``key``, or None."""
    return STRATEGIES.get(key)


def get(key: str) -> Strategy[Any]:
    """The strategy named ``key``; an unknown name is an error naming the field, the value and
    the choices."""
    strategy = STRATEGIES.get(key)
    if strategy is None:
        raise UnknownStrategy(f"strategy: {key!r}: expected one of {', '.join(STRATEGIES)}")
    return strategy


def sections() -> tuple[str, ...]:
    """Every strategy's profile section, e.g. ("local_nginx", "haproxy_keepalived", "ipvs")."""
    return tuple(s.section for s in STRATEGIES.values())


def packages() -> tuple[Package, ...]:
    """Every package any strategy may install, once each."""
    return tuple(dict.fromkeys(p for s in STRATEGIES.values() for p in s.packages))


def offering(attribute: str) -> tuple[str, ...]:
    """The strategies whose class attribute ``attribute`` is true (``has_vip_holder``)."""
    return tuple(key for key, s in STRATEGIES.items() if getattr(s, attribute))
