"""The cluster objects kubeadm made that name a master, and what repointing them makes of
them (pure: no SSH, no kubectl; :mod:`wizard.engine.api_objects` reads and writes them).

- ``kube-system/kube-proxy`` ConfigMap, ``data["kubeconfig.conf"]``: kube-proxy's kubeconfig
  (every node's kube-proxy pod reads it); its ``server:`` lines that name a master move to the
  load balancer, the rest of the text stays byte for byte (:func:`wizard.retrofit.kubeconfig.
  repoint`).
- ``kube-public/cluster-info`` ConfigMap, ``data["kubeconfig"]``: what ``kubeadm join`` reads;
  the same edit. kube-controller-manager's bootstrapsigner signs it again (``jws-kubeconfig-<id>``
  keys, a detached HS256 JWS keyed by each bootstrap token): :func:`jws_valid` checks them.
- ``kube-system/kubeadm-config`` ConfigMap, ``data["ClusterConfiguration"]``: its top-level
  ``controlPlaneEndpoint`` (what ``kubeadm upgrade`` and the next ``join`` use), changed by a
  one-line text edit that leaves every other byte of the YAML as it was (no YAML round trip).

A value kubeha cannot parse is never touched: :class:`Unparsable` names the object, the field
and what was expected.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from wizard.retrofit import kubeconfig


@dataclass(frozen=True)
class ObjectRef:
    """One object's field kubeha may change: ``path`` is the field inside the object."""

    kind: str
    namespace: str
    name: str
    path: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def field(self) -> str:
        """``data.kubeconfig.conf``, for messages."""
        return ".".join(self.path)

    @property
    def resource(self) -> str:
        """kubectl's name of the kind (``configmap``)."""
        return self.kind.lower()


KUBE_PROXY = ObjectRef("ConfigMap", "kube-system", "kube-proxy", ("data", "kubeconfig.conf"))
CLUSTER_INFO = ObjectRef("ConfigMap", "kube-public", "cluster-info", ("data", "kubeconfig"))
KUBEADM_CONFIG = ObjectRef(
    "ConfigMap", "kube-system", "kubeadm-config", ("data", "ClusterConfiguration")
)
# The annotation `kubectl rollout restart` sets: kubeha sets it the same way (a patch with a
# resourceVersion test) and gives back exactly what was there (absent or the old value).
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
KUBE_PROXY_DAEMONSET = ObjectRef(
    "DaemonSet",
    "kube-system",
    "kube-proxy",
    ("spec", "template", "metadata", "annotations", RESTARTED_AT),
)
# In the order they are changed (given back in reverse).
OBJECTS = (KUBE_PROXY, CLUSTER_INFO, KUBEADM_CONFIG)
JWS_PREFIX = "jws-kubeconfig-"


class Unparsable(ValueError):
    """An object kubeha does not touch: the message names it, the field and what was expected."""


@dataclass(frozen=True)
class Edit:
    """What repointing makes of one object's field: ``after`` is None when nothing changes."""

    ref: ObjectRef
    before: str
    after: str | None
    line: str  # one line for a preview: ``server: OLD -> NEW`` or why nothing changes

    @property
    def changed(self) -> bool:
        return self.after is not None and self.after != self.before

    def diff(self) -> str:
        """The unified diff of the field (empty when nothing changes)."""
        if not self.changed or self.after is None:
            return ""
        label = f"{self.ref.title} {self.ref.field}"
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=label,
                tofile=f"{label} (kubeha)",
            )
        )


def field_of(obj: object, path: tuple[str, ...]) -> str | None:
    """The string at ``path`` in a decoded object; None when absent. ValueError when a step on
    the way is not a map or the value is not a string."""
    here = obj
    for step in path:
        if here is None:
            return None
        if not isinstance(here, dict):
            raise ValueError(f"{step!r} is inside a {type(here).__name__}, expected a map")
        here = here.get(step)
    if here is None or isinstance(here, str):
        return here
    raise ValueError(f"a {type(here).__name__}, expected a string")


def field_of_map(obj: object, path: tuple[str, ...]) -> dict[str, object] | None:
    """The map at ``path`` in a decoded object; None when absent or not a map."""
    here = obj
    for step in path:
        here = here.get(step) if isinstance(here, dict) else None
    return here if isinstance(here, dict) else None


def _kubeconfig_edit(
    ref: ObjectRef, text: str, server_url: str, old: Collection[tuple[str, int]]
) -> Edit:
    if not kubeconfig.servers(text):
        raise Unparsable(
            f"{ref.title}: {ref.field} has no `server:` line; expected a kubeconfig with its "
            "cluster's `server: https://HOST:PORT`: left as it is"
        )
    moved = kubeconfig.repoint(text, server_url, set(old))
    return Edit(ref, text, moved.text if moved.changed else None, moved.diff_line)


_ENDPOINT = re.compile(
    r"^(?P<head>controlPlaneEndpoint:[ \t]*)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s#'\"][^\s#]*|)"
    r"(?P<tail>[ \t]*(?:#[^\n]*)?)(?P<eol>\r?\n|$)",
    re.MULTILINE,
)
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9]*):", re.MULTILINE)
_KIND = re.compile(r"^kind:[ \t]*[\"']?ClusterConfiguration[\"']?[ \t]*\r?$", re.MULTILINE)


def endpoint_of(value: str) -> tuple[str, int] | None:
    """(host, port) of a ``controlPlaneEndpoint`` (``HOST[:PORT]``; kubeadm's default port,
    6443, when it names none); None when it is not one."""
    try:
        parts = urlsplit(f"https://{value}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.fragment or "@" in value:
        return None
    return parts.hostname.lower(), port or 6443


def _quoted(value: str, like: str) -> str:
    """``value`` written the way the old one was (its quotes); quoted where YAML needs it."""
    if like[:1] in ("'", '"'):
        return f"{like[0]}{value}{like[0]}"
    return f'"{value}"' if value.startswith("[") else value


def _endpoint_edit(
    ref: ObjectRef, text: str, server_url: str, old: Collection[tuple[str, int]]
) -> Edit:
    if _KIND.search(text) is None:
        raise Unparsable(
            f"{ref.title}: {ref.field} is not a ClusterConfiguration (no top-level "
            "`kind: ClusterConfiguration`): left as it is"
        )
    new = kubeconfig.endpoint(server_url)
    assert new is not None, server_url
    wanted = server_url.removeprefix("https://").rstrip("/")
    found = list(_ENDPOINT.finditer(text))
    if len(found) > 1:
        raise Unparsable(
            f"{ref.title}: {ref.field} has {len(found)} top-level `controlPlaneEndpoint:` lines; "
            "expected at most one: left as it is"
        )
    if not found:  # kubeadm left it out (empty): added where kubeadm sorts it
        after = _insert_endpoint(text, wanted)
        return Edit(ref, text, after, f"controlPlaneEndpoint: (none) -> {wanted}")
    match = found[0]
    raw = match["value"]
    value = raw[1:-1] if raw[:1] in ("'", '"') else raw
    if value == wanted:
        return Edit(ref, text, None, "unchanged")
    if value and endpoint_of(value) not in set(old):
        if endpoint_of(value) is None:
            raise Unparsable(
                f"{ref.title}: {ref.field}'s controlPlaneEndpoint is {value!r}; expected "
                "HOST or HOST:PORT: left as it is"
            )
        return Edit(ref, text, None, f"left as is: controlPlaneEndpoint {value} names no master")
    line = f"{match['head']}{_quoted(wanted, raw)}{match['tail']}{match['eol']}"
    after = text[: match.start()] + line + text[match.end() :]
    return Edit(ref, text, after, f"controlPlaneEndpoint: {value or '(empty)'} -> {wanted}")


def _insert_endpoint(text: str, value: str) -> str:
    """A ``controlPlaneEndpoint`` line before the first top-level key that sorts after it
    (kubeadm writes its keys in order), else at the end."""
    eol = "\r\n" if "\r\n" in text else "\n"
    line = f"controlPlaneEndpoint: {_quoted(value, '')}{eol}"
    for key in _TOP_KEY.finditer(text):
        if key["key"] > "controlPlaneEndpoint":
            return text[: key.start()] + line + text[key.start() :]
    if text and not text.endswith("\n"):
        text += eol
    return text + line


EDITORS: dict[ObjectRef, Callable[[ObjectRef, str, str, Collection[tuple[str, int]]], Edit]] = {
    KUBE_PROXY: _kubeconfig_edit,
    CLUSTER_INFO: _kubeconfig_edit,
    KUBEADM_CONFIG: _endpoint_edit,
}


def edit(
    ref: ObjectRef, obj: object, server_url: str, old: Collection[tuple[str, int]]
) -> Edit | None:
    """What pointing ``obj``'s field at ``server_url`` makes of it (only what names one of the
    ``old`` endpoints moves); None when the object has no such field. Unparsable when it has
    one kubeha cannot read."""
    try:
        text = field_of(obj, ref.path)
    except ValueError as exc:
        raise Unparsable(f"{ref.title}: {ref.field} is {exc}: left as it is") from None
    if text is None:
        return None
    return EDITORS[ref](ref, text, server_url, old)


# --- the bootstrap signer's signatures ------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def detached_jws(content: str, token_id: str, token_secret: str) -> str:
    """The detached JWS (``header..signature``) kubeadm's bootstrapsigner writes for
    ``content``: HS256 keyed by the token's secret, ``kid`` the token's id."""
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    signing_input = f"{header}.{_b64url(content.encode())}".encode()
    signature = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url(signature)}"


def jws_valid(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    """``signature`` (``header..signature``) is a valid HS256 JWS of ``content`` under the
    bootstrap token ``token_id``'s secret (kubeadm join's own check; the header as written
    is what was signed, so its key order does not matter)."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        return False
    try:
        header = json.loads(_b64url_decode(parts[0]))
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    if header.get("kid") not in (None, token_id):
        return False
    signing_input = f"{parts[0]}.{_b64url(content.encode())}".encode()
    expected = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(_b64url(expected), parts[2])


def jws_keys(data: dict[str, object]) -> dict[str, str]:
    """token id -> signature, for each ``jws-kubeconfig-<id>`` key of cluster-info's data."""
    return {
        key.removeprefix(JWS_PREFIX): value
        for key, value in data.items()
        if key.startswith(JWS_PREFIX) and isinstance(value, str)
    }


def unsigned(data: dict[str, object], secrets: dict[str, str | None]) -> list[str]:
    """The token ids whose signature of cluster-info's ``kubeconfig`` is not valid (a token
    whose secret is gone, None in ``secrets``, is left out: the signer drops its key)."""
    content = data.get("kubeconfig")
    if not isinstance(content, str):
        return sorted(jws_keys(data))
    bad = []
    for token_id, signature in sorted(jws_keys(data).items()):
        secret = secrets.get(token_id)
        if secret is None:
            continue
        if not jws_valid(signature, content, token_id, secret):
            bad.append(token_id)
    return bad
