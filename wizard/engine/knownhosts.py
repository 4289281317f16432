"""known_hosts files read the way OpenSSH reads them, and host certificates checked the way
OpenSSH checks them.

A line is ``[@marker] patterns keytype base64 [comment]``. Patterns are comma-separated, with
``*`` and ``?`` wildcards, ``!`` negation, ``[host]:port`` for ports other than 22, or one hashed
``|1|salt|hmac`` name. ``@cert-authority`` lines name a CA whose host certificates are trusted for
the hosts the patterns match; ``@revoked`` lines name keys never to accept. A line that cannot be
read (an unknown marker, bad base64, a key whose blob does not match its type, too few fields) is
skipped with a warning naming its file and line, as OpenSSH skips it: it never stops a run.

An OpenSSH host certificate (``*-cert-v01@openssh.com``, PROTOCOL.certkeys) is accepted when it
is a host certificate, signed by a CA of a matching ``@cert-authority`` line (the signature checked
here with ``cryptography``), valid now, naming the host among its principals (wildcards allowed,
any host when it names none, as OpenSSH does), with no critical options, and neither its key nor
its CA is ``@revoked``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from wizard.textsafe import printable

CERT_SUFFIX = "-cert-v01@openssh.com"
MARKERS = {"@cert-authority": "cert-authority", "@revoked": "revoked"}
HOST_CERT = 2
# The signature algorithms OpenSSH accepts from a CA by default (CASignatureAlgorithms): no SHA-1.
CA_SIGNATURES = {
    "ssh-ed25519": None,
    "ecdsa-sha2-nistp256": hashes.SHA256,
    "ecdsa-sha2-nistp384": hashes.SHA384,
    "ecdsa-sha2-nistp521": hashes.SHA512,
    "rsa-sha2-256": hashes.SHA256,
    "rsa-sha2-512": hashes.SHA512,
}


class Malformed(ValueError):
    """An SSH wire-format blob that cannot be read."""


# --- SSH wire format ---------------------------------------------------------------------------


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint32(self) -> int:
        (value,) = struct.unpack(">I", self.take(4))
        return int(value)

    def uint64(self) -> int:
        (value,) = struct.unpack(">Q", self.take(8))
        return int(value)

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        try:
            return self.string().decode()
        except UnicodeDecodeError:
            raise Malformed("not text") from None

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def done(self) -> bool:
        return self.pos == len(self.data)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def blob_type(blob: bytes) -> str:
    return Reader(blob).text()


# --- host patterns -----------------------------------------------------------------------------


def _pattern_matches(name: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: ``*`` and ``?`` only, everything else literal, no case. A
    pattern without either is compared as text: a large known_hosts is mostly plain names, and
    a regex per line made each lookup take seconds."""
    if "*" not in pattern and "?" not in pattern:
        return name.lower() == pattern.lower()
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
    )
    return re.fullmatch(regex, name.lower(), re.DOTALL) is not None


def _hashed_matches(name: str, entry: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        want = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    got = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(got, want)


def host_matches(name: str, patterns: str) -> bool:
    """Whether the known_hosts name (``host`` or ``[host]:port``) matches a line's patterns."""
    if patterns.startswith("|"):
        return _hashed_matches(name, patterns)
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:]
        if pattern and _pattern_matches(name, pattern):
            if negated:
                return False
            matched = True
    return matched


# --- files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownKey:
    path: Path
    line: int
    marker: str | None  # None, "cert-authority" or "revoked"
    patterns: str
    key_type: str
    blob: bytes

    @property
    def where(self) -> str:
        return f"{printable(self.path)} line {self.line}"


def _read_line(text: str) -> tuple[str | None, str, str, bytes] | str | None:
    """(marker, patterns, key type, blob), a warning (why the line is skipped) or None (a blank
    line or a comment)."""
    words = text.split()
    if not words or words[0].startswith("#"):
        return None
    marker = None
    if words[0].startswith("@"):
        if words[0] not in MARKERS:
            return f"unknown marker {words[0]!r} (expected @cert-authority or @revoked)"
        marker = MARKERS[words.pop(0)]
    if len(words) < 3:
        return "expected [@marker] hostnames keytype base64-key"
    patterns, key_type, encoded = words[0], words[1], words[2]
    try:
        blob = base64.b64decode(encoded, validate=True)
        inner = blob_type(blob)
    except (binascii.Error, ValueError, Malformed):
        return f"the {key_type} key is not valid base64 key data"
    if inner != key_type:
        return f"the key says it is {inner!r}, the line says {key_type!r}"
    if key_type.endswith(CERT_SUFFIX):
        return "a certificate where a key is expected"
    return (marker, patterns, key_type, blob)


def read_file(path: Path) -> tuple[list[KnownKey], list[str]]:
    """Every key line of one known_hosts file and a warning for each line skipped."""
    keys: list[KnownKey] = []
    warnings: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return [], [f"{printable(path)}: cannot read known_hosts: {exc.strerror or exc}"]
    for number, line in enumerate(text.splitlines(), start=1):
        got = _read_line(line)
        if isinstance(got, str):
            warnings.append(f"{printable(path)} line {number}: skipped: {got}")
        elif got is not None:
            keys.append(KnownKey(path, number, *got))
    return keys, warnings


@dataclass
class KnownHosts:
    """What a set of known_hosts files says, with the warnings about the lines they skip."""

    keys: list[KnownKey] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @classmethod
    def load(cls, files: Iterable[Path]) -> KnownHosts:
        known = cls()
        for path in files:
            known.files.append(path)
            if path.is_file():
                keys, warnings = read_file(path)
                known.keys.extend(keys)
                known.warnings.extend(warnings)
        return known

    def for_host(self, name: str, marker: str | None = None) -> list[KnownKey]:
        return [k for k in self.keys if k.marker == marker and host_matches(name, k.patterns)]

    def revoked(self, name: str, blob: bytes) -> KnownKey | None:
        for key in self.for_host(name, "revoked"):
            if key.blob == blob:
                return key
        return None

    def key_types(self, name: str) -> list[str]:
        """The plain key types known for ``name``, in file order (for algorithm preference)."""
        return list(dict.fromkeys(k.key_type for k in self.for_host(name)))

    def has_ca(self, name: str) -> bool:
        return bool(self.for_host(name, "cert-authority"))


# --- certificates ------------------------------------------------------------------------------

# The public fields of each plain key type, as wire-format readers, in order.
_KEY_FIELDS = {
    "ssh-ed25519": ("string",),
    "ssh-rsa": ("mpint", "mpint"),
    "ecdsa-sha2-nistp256": ("string", "string"),
    "ecdsa-sha2-nistp384": ("string", "string"),
    "ecdsa-sha2-nistp521": ("string", "string"),
}


@dataclass(frozen=True)
class Certificate:
    cert_type: str
    key_blob: bytes  # the certified key, as a plain public key blob
    serial: int
    kind: int  # 1 user, 2 host
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical: bytes
    ca_blob: bytes
    signed: bytes  # everything the CA signed
    signature: bytes


def parse_certificate(blob: bytes) -> Certificate:
    r = Reader(blob)
    cert_type = r.text()
    if not cert_type.endswith(CERT_SUFFIX):
        raise Malformed(f"{cert_type} is not a certificate type")
    plain = cert_type[: -len(CERT_SUFFIX)]
    fields = _KEY_FIELDS.get(plain)
    if fields is None:
        raise Malformed(f"{cert_type} certificates are not supported")
    r.string()  # nonce
    start = r.pos
    for _ in fields:
        r.string()  # an mpint is a string on the wire
    key_blob = _string(plain.encode()) + blob[start : r.pos]
    serial = r.uint64()
    kind = r.uint32()
    key_id = r.text()
    names = Reader(r.string())
    principals = []
    while not names.done():
        principals.append(names.text())
    valid_after = r.uint64()
    valid_before = r.uint64()
    critical = r.string()
    r.string()  # extensions
    r.string()  # reserved
    ca_blob = r.string()
    signed = blob[: r.pos]
    signature = r.string()
    if not r.done():
        raise Malformed("trailing data")
    return Certificate(
        cert_type,
        key_blob,
        serial,
        kind,
        key_id,
        tuple(principals),
        valid_after,
        valid_before,
        critical,
        ca_blob,
        signed,
        signature,
    )


def _ca_public_key(ca_blob: bytes):
    line = f"{blob_type(ca_blob)} {base64.b64encode(ca_blob).decode()}"
    return serialization.load_ssh_public_key(line.encode())


def signature_ok(cert: Certificate) -> tuple[bool, str]:
    """Whether the CA's signature over the certificate verifies (and is an algorithm allowed)."""
    r = Reader(cert.signature)
    algorithm = r.text()
    sig = r.string()
    if algorithm not in CA_SIGNATURES:
        return False, f"the CA signed it with {algorithm}, which OpenSSH no longer accepts"
    try:
        ca = _ca_public_key(cert.ca_blob)
        digest = CA_SIGNATURES[algorithm]  # None for ssh-ed25519 only
        if isinstance(ca, ed25519.Ed25519PublicKey) and algorithm == "ssh-ed25519":
            ca.verify(sig, cert.signed)
        elif (
            isinstance(ca, ec.EllipticCurvePublicKey) and digest and algorithm.startswith("ecdsa-")
        ):
            rs = Reader(sig)
            der = encode_dss_signature(rs.mpint(), rs.mpint())
            ca.verify(der, cert.signed, ec.ECDSA(digest()))
        elif isinstance(ca, rsa.RSAPublicKey) and digest and algorithm.startswith("rsa-"):
            ca.verify(sig, cert.signed, padding.PKCS1v15(), digest())
        else:
            return False, f"a {algorithm} signature from a {blob_type(cert.ca_blob)} CA"
    except (InvalidSignature, ValueError, TypeError, Malformed, NotImplementedError):
        return False, "the CA's signature does not verify"
    return True, ""


def check_host_certificate(
    cert: Certificate, host: str, now: float | None = None
) -> tuple[bool, str]:
    """OpenSSH's checks of a host certificate whose CA is trusted: (ok, why not)."""
    if cert.kind != HOST_CERT:
        return False, "it is not a host certificate"
    ok, why = signature_ok(cert)
    if not ok:
        return False, why
    now = time.time() if now is None else now
    if now < cert.valid_after:
        return False, "it is not yet valid"
    if now >= cert.valid_before:
        return False, "it has expired"
    if cert.principals and not any(_pattern_matches(host, p) for p in cert.principals):
        return False, f"it is for {', '.join(cert.principals)}, not {host}"
    if cert.critical:
        return False, "it has critical options, which a host certificate may not have"
    return True, ""
