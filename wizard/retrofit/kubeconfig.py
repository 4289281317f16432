"""A kubeconfig's ``server:`` lines, read and changed without touching any other byte.

kubeha never rewrites a kubeconfig through a YAML library: comments, key order, quoting and
line endings stay exactly as the operator (or kubeadm) wrote them. Only the URL on a ``server:``
line whose endpoint is one of the given old endpoints changes; every other line is kept byte for
byte, so a backup and a one-line diff describe the whole change.
"""

from __future__ import annotations

import base64
import binascii
import re
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


@dataclass(frozen=True)
class Repointed:
    """The new text, and the old servers whose lines changed (in file order)."""

    text: str
    changed: tuple[str, ...]
    kept: tuple[str, ...]  # servers that name no old endpoint: left as they were
    new_server: str = ""

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
    for line in text.splitlines(keepends=True):
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
        else:
            out.append(line)
            kept.append(url)
    return Repointed("".join(out), tuple(changed), tuple(kept), new_server)


def ca_data(text: str) -> bytes | None:
    """The first cluster's embedded CA certificate (PEM bytes), or None."""
    for line in text.splitlines():
        match = _CA_DATA.match(line)
        if match:
            try:
                return base64.b64decode(match[1], validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def ca_file(text: str) -> str | None:
    """The first cluster's CA file path (``certificate-authority:``), or None."""
    for line in text.splitlines():
        match = _CA_FILE.match(line)
        if match:
            return match[1]
    return None


def point_back(
    current: str, original: str, lb_server: str, former: tuple[str, ...] = ()
) -> Repointed:
    """``current`` with each ``server:`` that names ``lb_server`` (or one of the ``former``
    load-balancer servers an older kubeha used) given back the server the same line (the same
    ``server:`` line, counted in file order) had in ``original``, the copy kept before the first
    repoint. Every other byte of ``current`` stays, so a certificate the node rotated since is
    kept."""
    ours = {lb_server, *former}
    before = servers(original)
    out: list[str] = []
    changed: list[str] = []
    back: list[str] = []
    index = 0
    for line in current.splitlines(keepends=True):
        match = _SERVER.match(line)
        if match is None:
            out.append(line)
            continue
        old = before[index] if index < len(before) else None
        index += 1
        if match["url"] in ours and old is not None and old != match["url"]:
            q = match["quote"]
            out.append(f"{match['head']}{q}{old}{q}{match['tail']}{match['eol']}")
            changed.append(match["url"])
            back.append(old)
        else:
            out.append(line)
    return Repointed("".join(out), tuple(changed), (), ", ".join(dict.fromkeys(back)))
