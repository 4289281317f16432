"""What the cluster says its apiservers are: the ``default/kubernetes`` Endpoints (or its
EndpointSlice), read and watched over the API with the agent's own token.

Each apiserver writes its ``--advertise-address`` and secure port into that object while it is
serving (the master-endpoint reconciler, lease-based since Kubernetes 1.11), so a master that is
added appears there and one that is removed or shut down leaves it. Parsing is strict: an object
this module cannot read is a :class:`BadEndpoints` naming the field, the value and what was
expected, never a guess (the caller keeps the last good list).
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from wizard.agent.roster import Member

# The agent lists the collection, not the object: a watch must start from the list's
# resourceVersion (the cluster's, now), not the object's, which on a quiet cluster is older than
# the apiserver's watch window, so that every watch ended "too old resource version" (410).
LIST_PATH = "/api/v1/namespaces/default/endpoints?fieldSelector=metadata.name%3Dkubernetes"
SLICES_PATH = (
    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    "?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes"
)
WATCH_PATH = (
    "/api/v1/namespaces/default/endpoints?watch=1&allowWatchBookmarks=true"
    "&fieldSelector=metadata.name%3Dkubernetes"
)
PORT_NAME = "https"
GONE_REASONS = ("Expired", "Gone")  # a watch Status's reason for a resourceVersion too old
MAX_LINE = 1 << 20  # one watch event; the kubernetes Endpoints object is a few hundred bytes


class BadEndpoints(ValueError):
    """An answer from the API that is not the Endpoints object this module expects."""


class Expired(BadEndpoints):
    """The watch's resourceVersion is older than the apiserver keeps (410 Gone): list again."""


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadEndpoints(f"{where}: {value!r}: expected an IP address")
    try:
        return str(ip_address(value))
    except ValueError:
        raise BadEndpoints(f"{where}: {value!r}: expected an IP address") from None


def _port(ports: Any, where: str) -> int:
    if not isinstance(ports, list) or not ports:
        raise BadEndpoints(f"{where}: {ports!r}: expected a list of ports")
    named = [p for p in ports if isinstance(p, dict) and p.get("name") == PORT_NAME]
    chosen = named[0] if named else ports[0] if len(ports) == 1 else None
    port = chosen.get("port") if isinstance(chosen, dict) else None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise BadEndpoints(f"{where}: {ports!r}: expected a port named {PORT_NAME!r} (1-65535)")
    return port


def members_of_endpoints(obj: Any) -> frozenset[Member]:
    """The ready apiservers an ``Endpoints`` object names (``subsets[].addresses``; the
    ``notReadyAddresses`` are not taken)."""
    if not isinstance(obj, dict) or obj.get("kind") not in (None, "Endpoints"):
        raise BadEndpoints(f"kind: {_kind(obj)!r}: expected 'Endpoints'")
    subsets = obj.get("subsets") or []
    if not isinstance(subsets, list):
        raise BadEndpoints(f"subsets: {subsets!r}: expected a list")
    found: set[Member] = set()
    for i, subset in enumerate(subsets):
        if not isinstance(subset, dict):
            raise BadEndpoints(f"subsets[{i}]: {subset!r}: expected an object")
        port = _port(subset.get("ports"), f"subsets[{i}].ports")
        for j, entry in enumerate(subset.get("addresses") or []):
            where = f"subsets[{i}].addresses[{j}].ip"
            ip = entry.get("ip") if isinstance(entry, dict) else entry
            found.add(Member(_address(ip, where), port))
    return frozenset(found)


def members_of_listing(obj: Any) -> tuple[frozenset[Member], str]:
    """The masters an ``EndpointsList`` of the ``kubernetes`` Endpoints names, and the list's
    resourceVersion (where a watch starts). No item is an error (the list is never emptied by
    a read that found nothing)."""
    if not isinstance(obj, dict) or obj.get("kind") not in (None, "EndpointsList"):
        raise BadEndpoints(f"kind: {_kind(obj)!r}: expected 'EndpointsList'")
    items = obj.get("items")
    if not isinstance(items, list) or len(items) != 1:
        shown = items if not isinstance(items, list) else f"{len(items)} item(s)"
        raise BadEndpoints(f"items: {shown!r}: expected the one Endpoints default/kubernetes")
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if not isinstance(version, str) or not version:
        raise BadEndpoints(f"metadata.resourceVersion: {version!r}: expected a resourceVersion")
    return members_of_endpoints(items[0]), version


def members_of_slices(obj: Any) -> frozenset[Member]:
    """The ready apiservers an ``EndpointSliceList`` names (``conditions.ready`` not false)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("items"), list):
        raise BadEndpoints(f"items: {_kind(obj)!r}: expected an EndpointSliceList")
    found: set[Member] = set()
    for i, item in enumerate(obj["items"]):
        if not isinstance(item, dict):
            raise BadEndpoints(f"items[{i}]: expected an EndpointSlice")
        port = _port(item.get("ports"), f"items[{i}].ports")
        for j, endpoint in enumerate(item.get("endpoints") or []):
            if not isinstance(endpoint, dict):
                raise BadEndpoints(f"items[{i}].endpoints[{j}]: expected an object")
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for k, ip in enumerate(endpoint.get("addresses") or []):
                found.add(Member(_address(ip, f"items[{i}].endpoints[{j}].addresses[{k}]"), port))
    return frozenset(found)


def _kind(obj: Any) -> str:
    return str(obj.get("kind")) if isinstance(obj, dict) else type(obj).__name__


@dataclass(frozen=True)
class Event:
    """One watch event on the Endpoints: its type and the masters it names (None: a bookmark
    or a deletion, which name nothing to act on)."""

    type: str
    resource_version: str
    members: frozenset[Member] | None


def read_events(lines: Iterable[bytes]) -> Iterator[Event]:
    """Watch events from the API's newline-delimited JSON stream. An ``ERROR`` event ends the
    stream with :class:`BadEndpoints` (:class:`Expired` for a resourceVersion too old, 410);
    so does a line that is not an event."""
    for raw in lines:
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE:
            raise BadEndpoints(f"watch event: {len(raw)} bytes: expected at most {MAX_LINE}")
        try:
            event = json.loads(raw)
        except ValueError:
            raise BadEndpoints(f"watch event: {raw[:80]!r}: expected a JSON object") from None
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise BadEndpoints(f"watch event: {raw[:80]!r}: expected type and object")
        kind, obj = event.get("type"), event["object"]
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "ERROR" and (obj.get("code") == 410 or obj.get("reason") in GONE_REASONS):
            raise Expired(f"watch: {obj.get('message', obj)!r}: listed again")
        if kind == "ERROR":
            raise BadEndpoints(f"watch: {obj.get('message', obj)!r}: the watch must start again")
        if kind in ("ADDED", "MODIFIED"):
            yield Event(str(kind), version, members_of_endpoints(obj))
        elif kind in ("BOOKMARK", "DELETED"):
            yield Event(str(kind), version, None)
        else:
            raise BadEndpoints(f"watch event type: {kind!r}: expected ADDED, MODIFIED, DELETED")


@dataclass(frozen=True)
class ApiClient:
    """How the agent reaches the API: a server (the node's own balancer), the cluster CA and a
    bearer token read from a file at each connection (so a rotated token is picked up)."""

    host: str
    port: int
    ca_file: str
    token_file: str
    timeout_s: float = 5.0

    def _token(self) -> str:
        with open(self.token_file, encoding="ascii") as handle:
            return handle.read().strip()

    def connect(self, timeout_s: float | None = None) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=self.ca_file)
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=timeout_s or self.timeout_s, context=context
        )

    def get(self, path: str) -> Any:
        conn = self.connect()
        try:
            conn.request("GET", path, headers=self._headers())
            answer = conn.getresponse()
            body = answer.read(MAX_LINE + 1)
            if answer.status != 200:
                raise BadEndpoints(f"GET {path}: HTTP {answer.status}: expected 200")
            return json.loads(body)
        finally:
            conn.close()

    def watch(
        self, resource_version: str, idle_s: float, stop: Callable[[], bool]
    ) -> Iterator[Event]:
        """Events after ``resource_version`` until the server ends the watch, nothing comes for
        ``idle_s`` (a socket timeout, raised), or ``stop()`` is true between events."""
        conn = self.connect(timeout_s=idle_s)
        try:
            path = f"{WATCH_PATH}&resourceVersion={resource_version}&timeoutSeconds=300"
            conn.request("GET", path, headers=self._headers())
            answer = conn.getresponse()
            if answer.status != 200:
                raise BadEndpoints(f"watch: HTTP {answer.status}: expected 200")
            for event in read_events(iter(lambda: answer.readline(MAX_LINE + 1), b"")):
                yield event
                if stop():
                    return
        finally:
            conn.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
