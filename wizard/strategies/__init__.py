"""One module per HA strategy; each turns a valid profile into a RenderPlan."""

from __future__ import annotations

from types import ModuleType


def strategy_for(name: str) -> ModuleType:
    from wizard.strategies import haproxy_keepalived, ipvs, local_nginx

    return {
        "local-nginx": local_nginx,
        "haproxy-keepalived": haproxy_keepalived,
        "ipvs": ipvs,
    }[name]
