"""A kubeconfig's ``server:`` lines, read and changed without touching any other byte.

kubeha never rewrites a kubeconfig through a YAML library: comments, key order, quoting and
line endings stay exactly as the operator (or kubeadm) wrote them. Only the URL on a ``server:``
line whose endpoint is one of the given old endpoints changes; every other line is kept byte for
byte, so a backup and a one-line diff describe the whole change.

Which cluster entry a ``server:`` line belongs to (its ``name``, its CA, the current context's
cluster) is read from the same block-style lines kubeadm and kubectl write (:func:`clusters`):
point-back matches clusters by name, and the CA checked is the repointed cluster's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

_SERVER = re.compile(
    r"^(?P<head>[ \t]*(?:-[ \t]+)?server:[ \t]*)"
    r"(?P<quote>[\"']?)(?P<url>[^\"'\s#]+)(?P=quote)"
    r"(?P<tail>[ \t]*(?:#[^\r\n]*)?)(?P<eol>\r?\n?)$"
)
_CA_DATA = re.compile(
    r"^[ \t]*(?:-[ \t]+)?certificate-authority-data:[ \t]*[\"']?([A-Za-z0-9+/=]+)"
)
_CA_FILE = re.compile(r"^[ \t]*(?:-[ \t]+)?certificate-authority:[ \t]*[\"']?([^\"'\s#]+)")
# A block-style mapping key, optionally after a list dash: its column is the key's.
_KEY = re.compile(r"^(?P<lead>[ ]*(?:-[ ]+)?)(?P<key>[A-Za-z0-9_.-]+):(?:[ \t]+(?P<value>.*))?$")
_DASH = re.compile(r"^(?P<lead>[ ]*)-(?:[ ]+|$)")


@dataclass(frozen=True)
class ClusterEntry:
    """One entry of a kubeconfig's ``clusters:`` list, as its block-style lines say it."""

    name: str | None
    server: str | None
    server_line: int | None  # its server: line's index in text.splitlines(keepends=True)
    ca_data: str | None  # certificate-authority-data, as written (base64)
    ca_file: str | None  # certificate-authority


def _scalar(value: str | None) -> str | None:
    """A plain or quoted YAML scalar as written on one line, without a trailing comment."""
    if value is None:
        return None
    value = value.strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else None
    value = re.split(r"[ \t]#", value, maxsplit=1)[0].strip()
    return value or None


def _items(lines: list[str], section: str) -> list[list[tuple[int, int, str, str | None]]]:
    """The entries of the top-level list ``section`` (``clusters``, ``contexts``), each as its
    key lines: (line index, the key's column relative to the entry, key, value). Column 0 is
    the entry's own keys (``name``, ``cluster``); deeper keys have their column."""
    items: list[list[tuple[int, int, str, str | None]]] = []
    inside = False
    dash_col: int | None = None
    key_col: int | None = None
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):  # a top-level key
            match = _KEY.match(line)
            inside = match is not None and match["key"] == section
            dash_col = key_col = None
            continue
        if not inside:
            continue
        dash = _DASH.match(line)
        if dash is not None and (dash_col is None or len(dash["lead"]) == dash_col):
            dash_col = len(dash["lead"])
            items.append([])
            key_col = None
        if not items:
            continue
        match = _KEY.match(line)
        if match is None:
            continue
        column = len(match["lead"])
        if key_col is None:
            key_col = column
        items[-1].append((index, column - key_col, match["key"], match["value"]))
    return items


def _entry_keys(
    item: list[tuple[int, int, str, str | None]], child_of: str
) -> tuple[dict[str, tuple[int, str | None]], dict[str, tuple[int, str | None]]]:
    """(the entry's own keys, the keys directly under its ``child_of`` mapping): key ->
    (line index, value)."""
    own: dict[str, tuple[int, str | None]] = {}
    child: dict[str, tuple[int, str | None]] = {}
    under = False
    child_col: int | None = None
    for index, column, key, value in item:
        if column <= 0:
            own.setdefault(key, (index, value))
            under = column == 0 and key == child_of
            child_col = None
        elif under:
            child_col = column if child_col is None else child_col
            if column == child_col:
                child.setdefault(key, (index, value))
    return own, child


def clusters(text: str) -> tuple[ClusterEntry, ...]:
    """Every entry of the ``clusters:`` list, with its name, server and CA (block style, as
    kubeadm and kubectl write it; a flow-style or JSON kubeconfig gives none)."""
    found = []
    for item in _items(text.splitlines(keepends=True), "clusters"):
        own, child = _entry_keys(item, "cluster")
        server = child.get("server")
        found.append(
            ClusterEntry(
                _scalar(own.get("name", (0, None))[1]),
                _scalar(server[1]) if server else None,
                server[0] if server else None,
                _scalar(child.get("certificate-authority-data", (0, None))[1]),
                _scalar(child.get("certificate-authority", (0, None))[1]),
            )
        )
    return tuple(found)


def context_clusters(text: str) -> dict[str, str]:
    """Each context's name -> the cluster it uses."""
    found: dict[str, str] = {}
    for item in _items(text.splitlines(keepends=True), "contexts"):
        own, child = _entry_keys(item, "context")
        name, cluster = (
            _scalar(own.get("name", (0, None))[1]),
            _scalar(child.get("cluster", (0, None))[1]),
        )
        if name is not None and cluster is not None:
            found.setdefault(name, cluster)
    return found


def current_cluster(text: str) -> str | None:
    """The cluster of the ``current-context``, or None."""
    for raw in text.splitlines():
        match = _KEY.match(raw)
        if match is not None and not match["lead"] and match["key"] == "current-context":
            context = _scalar(match["value"])
            return context_clusters(text).get(context) if context else None
    return None


def _server_names(text: str) -> dict[int, str | None]:
    """The index of each cluster's ``server:`` line -> that cluster's name."""
    return {e.server_line: e.name for e in clusters(text) if e.server_line is not None}


@dataclass(frozen=True)
class Repointed:
    """The new text, and the old servers whose lines changed (in file order)."""

    text: str
    changed: tuple[str, ...]
    kept: tuple[str, ...]  # servers that name no old endpoint: left as they were
    new_server: str = ""
    clusters: tuple[str, ...] = ()  # the names of the cluster entries whose server changed
    stuck: tuple[str, ...] = ()  # point_back: why a server on the load balancer stays there

    @property
    def diff_line(self) -> str:
        """One line for a preview: ``server: OLD -> NEW`` (or why nothing changes)."""
        if not self.changed:
            return "unchanged" if not self.kept else f"left as is: {', '.join(self.kept)}"
        return f"server: {', '.join(dict.fromkeys(self.changed))} -> {self.new_server}"


def servers(text: str) -> tuple[str, ...]:
    """Every ``server:`` URL in the file, in order."""
    found = []
    for line in text.splitlines(keepends=True):
        match = _SERVER.match(line)
        if match:
            found.append(match["url"])
    return tuple(found)


def endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of a server URL (port 443 when absent); None when it is not https://."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    return parts.hostname.lower(), port or 443


def repoint(text: str, new_server: str, old_endpoints: set[tuple[str, int]]) -> Repointed:
    """``text`` with every server that names one of ``old_endpoints`` (host, port) replaced by
    ``new_server``; servers already equal to ``new_server`` and servers of other clusters stay."""
    out: list[str] = []
    changed: list[str] = []
    kept: list[str] = []
    names: list[str] = []
    by_line = _server_names(text)
    for index, line in enumerate(text.splitlines(keepends=True)):
        match = _SERVER.match(line)
        if match is None:
            out.append(line)
            continue
        url = match["url"]
        if url == new_server:
            out.append(line)
        elif endpoint(url) in old_endpoints:
            q = match["quote"]
            out.append(f"{match['head']}{q}{new_server}{q}{match['tail']}{match['eol']}")
            changed.append(url)
            name = by_line.get(index)
            if name is not None and name not in names:
                names.append(name)
        else:
            out.append(line)
            kept.append(url)
    return Repointed("".join(out), tuple(changed), tuple(kept), new_server, tuple(names))


def _decode(data: str | None) -> bytes | None:
    if not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _first_ca_data(text: str) -> bytes | None:
    for line in text.splitlines():
        match = _CA_DATA.match(line)
        if match:
            return _decode(match[1])
    return None


def _first_ca_file(text: str) -> str | None:
    for line in text.splitlines():
        match = _CA_FILE.match(line)
        if match:
            return match[1]
    return None


def repointed_cluster(text: str, ours: Callable[[str], bool]) -> ClusterEntry | None:
    """The cluster entry kubeha repoints (or repointed) in ``text``: among the entries whose
    server ``ours`` takes (a master's, or the load balancer's), the current context's, else
    the first; when none, the current context's cluster, or the file's only one. Never merely
    the file's first cluster, which may be another cluster's (with another CA)."""
    entries = clusters(text)
    current = current_cluster(text)
    mine = [e for e in entries if e.server is not None and ours(e.server)]
    for entry in mine:
        if entry.name is not None and entry.name == current:
            return entry
    if mine:
        return mine[0]
    found = next((e for e in entries if e.name is not None and e.name == current), None)
    return found if found is not None or len(entries) != 1 else entries[0]


def ca_data(text: str, ours: Callable[[str], bool] | None = None) -> bytes | None:
    """The embedded CA certificate (PEM bytes) of the cluster kubeha repoints
    (:func:`repointed_cluster`), or None. Without ``ours``, or in a file whose cluster entries
    cannot be read, the first one in the file."""
    entries = clusters(text) if ours is not None else ()
    if not entries:
        return _first_ca_data(text)
    entry = repointed_cluster(text, ours) if ours is not None else None
    return _decode(entry.ca_data) if entry is not None else None


def ca_file(text: str, ours: Callable[[str], bool] | None = None) -> str | None:
    """The CA file path (``certificate-authority:``) of the cluster kubeha repoints, as
    :func:`ca_data` chooses it, or None."""
    entries = clusters(text) if ours is not None else ()
    if not entries:
        return _first_ca_file(text)
    entry = repointed_cluster(text, ours) if ours is not None else None
    return entry.ca_file if entry is not None else None


def point_back(
    current: str,
    original: str,
    lb_server: str,
    former: tuple[str, ...] = (),
    names: Collection[str] | None = None,
    old_endpoints: Collection[tuple[str, int]] = (),
) -> Repointed:
    """``current`` with each cluster entry kubeha repointed given back its server in
    ``original`` (the copy kept before the first repoint), matched by the cluster's name,
    never by position: a cluster added ahead of kubeha's since moves every line.

    The entries kubeha repointed are ``names`` (recorded at repoint); without a record (a node
    repointed by an older kubeha), those whose original server named a master (one of
    ``old_endpoints``). A ``server:`` that still names the load balancer (``lb_server`` or a
    ``former`` one) and cannot be given back is in ``stuck``, with why: its cluster has no
    name, is not one kubeha repointed, or is not in ``original`` under that name (renamed).
    Every other byte of ``current`` stays, so a certificate the node rotated since is kept."""
    ours = {lb_server, *former}
    before = {e.name: e.server for e in clusters(original) if e.name is not None}
    by_line = _server_names(current)
    out: list[str] = []
    changed: list[str] = []
    back: list[str] = []
    names_back: list[str] = []
    stuck: list[str] = []
    for index, line in enumerate(current.splitlines(keepends=True)):
        match = _SERVER.match(line)
        if match is None or match["url"] not in ours:
            out.append(line)
            continue
        name = by_line.get(index)
        old = before.get(name) if name is not None else None
        why = ""
        if name is None:
            why = f"line {index + 1} (server: {match['url']}) is in no named cluster entry"
        elif old is None:
            why = (
                f"cluster {name!r} is not in the original under that name (renamed or added since)"
            )
        elif names is not None and name not in names:
            why = f"cluster {name!r} was not repointed by kubeha"
        elif names is None and old_endpoints and endpoint(old) not in old_endpoints:
            why = f"cluster {name!r} was {old} before, which is not a master's"
        elif old in ours:
            why = f"cluster {name!r} already named the load balancer in the original"
        if why or name is None or old is None:  # (name and old are set when why is empty)
            stuck.append(why)
            out.append(line)
            continue
        q = match["quote"]
        out.append(f"{match['head']}{q}{old}{q}{match['tail']}{match['eol']}")
        changed.append(match["url"])
        back.append(old)
        if name not in names_back:
            names_back.append(name)
    return Repointed(
        "".join(out),
        tuple(changed),
        (),
        ", ".join(dict.fromkeys(back)),
        tuple(names_back),
        tuple(stuck),
    )


@dataclass(frozen=True)
class KubeconfigNow:
    """A listed kubeconfig as the facts phase found it on a node (``[clients] repoint``):
    there or not, and the ``server:`` URLs it names now."""

    path: str
    unit: str = ""
    present: bool = True
    servers: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """One line for the facts event: ``PATH: server: URL``, or why there is none."""
        if not self.present:
            return f"{self.path}: not on this node"
        if not self.servers:
            return f"{self.path}: names no server"
        return f"{self.path}: server: {', '.join(self.servers)}"
