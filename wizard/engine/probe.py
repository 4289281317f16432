"""The probe through a node's load balancer that apply's verify and ``kubeha verify`` run: with
the check's credentials (``[health_check] auth``), and against the cluster's CA wherever the
node has one.

The CA: the one the operator named (``--ca-file``, ``[clients] ca_file``); else kubeadm's
``/etc/kubernetes/pki/ca.crt``; else the CA of the kubeconfigs kubeha repoints (a
``certificate-authority`` file, or its embedded data given to curl on stdin: nothing is
written); else none, and the probe says so (``--insecure``). A CA path must be a regular file
before curl reads it: a FIFO there hangs curl past its ``--max-time``; such a path fails the
probe with a message naming the node, the path and what it is.

The script prints ``CA <source>`` (or ``CA-REFUSED <what> <path>``), the answer's headers, then
``RESULT <code> <seconds>``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from wizard.engine.remote import q
from wizard.profile import KUBEADM_KUBECONFIGS, Profile
from wizard.textsafe import printable

KUBEADM_CA = "/etc/kubernetes/pki/ca.crt"
MASTER_HEADER = "x-lab-master"
UNKNOWN_MASTER = "?"  # a real apiserver does not say which master it is
CA_NONE = "-"


@dataclass(frozen=True)
class ProbeSettings:
    """How a node probes through its load balancer (the same on every node of a run)."""

    ok_codes: tuple[str, ...] = ("200",)
    curl_auth: str = ""  # curl arguments naming the client certificate (validated paths)
    ca_file: str | None = None  # named by the operator: must be there
    ca_candidates: tuple[str, ...] = (KUBEADM_CA,)
    kubeconfigs: tuple[str, ...] = ()

    @classmethod
    def of(cls, profile: Profile, ca_file: str | None = None) -> ProbeSettings:
        hc = profile.health_check
        kubeconfigs = profile.clients.kubeconfigs or KUBEADM_KUBECONFIGS
        return cls(
            ok_codes=hc.ok_codes,
            curl_auth=hc.curl_auth,
            ca_file=ca_file or profile.clients.ca_file,
            kubeconfigs=tuple(k.path for k in kubeconfigs),
        )


# Prints what a path is when it is not a regular file (it follows links, as curl would).
_KIND = (
    'kind() { if [ -p "$1" ]; then echo FIFO; elif [ -d "$1" ]; then echo folder; '
    'elif [ -S "$1" ]; then echo socket; elif [ -c "$1" ] || [ -b "$1" ]; then echo device; '
    'elif [ -L "$1" ] && [ ! -e "$1" ]; then echo "dangling link"; '
    'elif [ -e "$1" ]; then echo "not a regular file"; else echo missing; fi; }; '
    'refuse() { printf "CA-REFUSED\\t%s\\t%s\\n" "$(kind "$1")" "$1"; exit 0; }; '
)


def probe_script(url: str, timeout: float, settings: ProbeSettings | None = None) -> str:
    """The shell that picks the CA, then curls ``url`` once (see the module's docstring)."""
    s = settings or ProbeSettings()
    parts = [_KIND, "ca=; src=; pem=; "]
    if s.ca_file:
        parts.append(f"[ -f {q(s.ca_file)} ] || refuse {q(s.ca_file)}; ca={q(s.ca_file)}; ")
    for path in s.ca_candidates:
        parts.append(
            f'if [ -z "$ca" ]; then if [ -f {q(path)} ]; then ca={q(path)}; '
            f"elif [ -e {q(path)} ] || [ -L {q(path)} ]; then refuse {q(path)}; fi; fi; "
        )
    for path in s.kubeconfigs:
        k = q(path)
        parts.append(
            f'if [ -z "$ca" ] && [ -f {k} ] && [ "$(grep -c "certificate-authority" {k})" = 1 ]; '
            f"then data=$(sed -n 's/^ *certificate-authority-data: *//p' {k}); "
            'if [ -n "$data" ]; then '
            'pem=$(printf %s "$data" | tr -d "\\"" | base64 -d 2>/dev/null) && [ -n "$pem" ] '
            f"&& ca=/dev/stdin src={q(path + ' (its embedded CA)')}; "
            f"else f=$(sed -n 's/^ *certificate-authority: *//p' {k} | tr -d \"\\\"'\"); "
            f'case "$f" in /*) ;; *) f={q(path.rsplit("/", 1)[0])}/$f ;; esac; '
            '[ -f "$f" ] || refuse "$f"; ca=$f; fi; fi; '
        )
    auth = f" {s.curl_auth}" if s.curl_auth else ""
    parts.append(
        f'echo "CA ${{src:-${{ca:-{CA_NONE}}}}}"; '
        'if [ -n "$ca" ]; then set -- --cacert "$ca"; else set -- --insecure; fi; '
        'printf "%s\\n" "$pem" | '
        f'curl --silent --show-error "$@"{auth} --dump-header - --output /dev/null '
        f"--max-time {timeout:g} --write-out 'RESULT %{{http_code}} %{{time_total}}\\n' {q(url)}"
    )
    return "".join(parts)


def ca_used(stdout: str) -> tuple[str | None, tuple[str, str] | None]:
    """(the CA the certificate was checked against, None: not checked; (what, path) of a CA
    path refused because it is not a regular file, else None)."""
    for line in stdout.splitlines():
        if line.startswith("CA-REFUSED\t"):
            _, what, path = [*line.split("\t", 2), "", ""][:3]
            return None, (what, path)
        if line.startswith("CA "):
            source = line[3:].strip()
            return (None if source == CA_NONE else source), None
    return None, None


def refusal_message(node: str, refusal: tuple[str, str]) -> str:
    """``w1: CA file /x is a FIFO, expected a regular file (curl would hang on a FIFO)``."""
    what, path = refusal
    article = (
        ""
        if what in ("missing", "not a regular file")
        else ("an " if what[:1] in "aeiou" else "a ")
    )
    return (
        f"{printable(node)}: CA file {printable(path)} is {article}{printable(what)}, "
        "expected a regular file (curl would hang on a FIFO)"
    )


def parse_probe(
    stdout: str, stderr: str, returncode: int, ok_codes: tuple[str, ...] = ("200",)
) -> tuple[bool, str, float, str, str]:
    """(ok, status, seconds, master, detail) from :func:`probe_script`'s output. With
    ``health_check.auth = "alive-on-401"`` a 401 or 403 counts: the apiserver answered, its
    readiness could not be read (the status says so)."""
    code, seconds, master = "000", 0.0, UNKNOWN_MASTER
    for raw in stdout.splitlines():
        line = raw.strip()
        if line.lower().startswith(MASTER_HEADER + ":"):
            master = line.split(":", 1)[1].strip() or UNKNOWN_MASTER
        elif line.startswith("RESULT "):
            parts = line.split()
            if len(parts) >= 3:
                code = parts[1]
                with contextlib.suppress(ValueError):
                    seconds = float(parts[2])
    ok = returncode == 0 and code in ok_codes
    if code == "000":
        status = f"curl exit {returncode}"
        master = "-"
    elif code == "200":
        status = code
    elif ok:
        status = f"HTTP {code} (alive, readiness not readable)"
    else:
        status = f"HTTP {code}"
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return ok, status, seconds, master, detail
