"""The agent's check of one master: ``GET <path>`` over TLS, asked the way the profile's
``[health_check] auth`` says (``anonymous``: no credentials, 200 is up; ``client-cert``: the
node's own certificate, 200 is up; ``alive-on-401``: no credentials, 200, 401 or 403 is up).

As the session cutter's curl (``-k``), the check does not verify the master's certificate: it
asks whether the apiserver answers, not who it is (the balancer is a TCP proxy; the clients
verify). Each check is bounded by ``timeout_s`` from connect to the status line.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass

from wizard.agent.roster import Member

AUTHS = ("anonymous", "client-cert", "alive-on-401")


@dataclass(frozen=True)
class CheckSpec:
    """How every master is checked (the profile's ``[health_check]``)."""

    path: str = "/readyz"
    timeout_s: float = 1.0
    auth: str = "anonymous"
    client_cert: str = ""
    client_key: str = ""

    def __post_init__(self) -> None:
        if self.auth not in AUTHS:
            raise ValueError(f"auth: {self.auth!r}: expected one of {', '.join(AUTHS)}")
        if self.auth == "client-cert" and not self.client_cert:
            raise ValueError("client_cert: '': expected the certificate's path for client-cert")

    @property
    def ok_codes(self) -> frozenset[int]:
        return frozenset({200, 401, 403} if self.auth == "alive-on-401" else {200})

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.auth == "client-cert":
            context.load_cert_chain(self.client_cert, self.client_key or None)
        return context


@dataclass(frozen=True)
class CheckResult:
    """One check: up or not, the HTTP status (0: no answer) and how long it took."""

    up: bool
    status: int
    seconds: float
    error: str = ""


def check(member: Member, spec: CheckSpec, context: ssl.SSLContext | None = None) -> CheckResult:
    """Ask ``member`` once (``context``: a prepared one, so a certificate is read once a round)."""
    started = time.monotonic()
    conn = http.client.HTTPSConnection(
        member.address, member.port, timeout=spec.timeout_s, context=context or spec.context()
    )
    try:
        conn.request("GET", spec.path, headers={"Connection": "close"})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return CheckResult(False, 0, time.monotonic() - started, type(error).__name__)
    finally:
        conn.close()
    return CheckResult(status in spec.ok_codes, status, time.monotonic() - started)
