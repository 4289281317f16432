"""The auth preflight of every apply: before any node changes, each node asks every master's
``/readyz`` the way its checks will (``[health_check] auth``) and anonymously, and the run stops
when a node's checks would mark every master down: on a cluster whose apiservers refuse
anonymous requests (``--anonymous-auth=false``: 401) the default ``auth = "anonymous"`` would
leave kubeha blind there (it then cuts nothing, but sees no dead master either), and
``client-cert`` without the certificate on the node likewise. The message says which mode the
cluster needs. Read-only: it runs in a dry run too.

Whether the apiservers answer anonymous requests is the cluster's: a few nodes ask before any
node changes (:data:`SAMPLE`, the first the run will change), on the connections their jobs then
use. Every other node asks the same in its own job before anything changes there
(:func:`node_check`, in its ``facts`` phase): a node without the client certificate, or that
sees every master fail, stops with nothing changed, and the others go on. Before, every node
asked in the preflight on a connection of its own: a second SSH handshake per node, the largest
cost a node added to the controller (``bench.fanout_cost``).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from wizard.engine.remote import RemoteNode, q
from wizard.netaddr import url_host
from wizard.profile import Profile
from wizard.textsafe import printable

MARK = "KUBEHA-AUTH"  # each line of the script's answer
SAMPLE = 3  # nodes asked before any node changes (at most the run's concurrency)


@dataclass(frozen=True)
class NodeAnswers:
    node: str
    anonymous: dict[str, str]  # master -> HTTP code of an anonymous /readyz ("000": none)
    checked: dict[str, str]  # master -> HTTP code the way the checks ask
    cert: str = ""  # client-cert: what the certificate path is when it is not a regular file
    error: str = ""


def script(profile: Profile) -> str:
    """One curl per master anonymously and one the checks' way (with client-cert), each line
    ``KUBEHA-AUTH master anonymous-code checked-code``; ``KUBEHA-AUTH-CERT what`` first when the
    client certificate is not a regular file on the node."""
    hc = profile.health_check
    parts = []
    if hc.auth == "client-cert":
        for path in filter(None, (hc.client_cert, hc.client_key)):
            parts.append(
                f"if [ ! -f {q(path)} ]; then if [ -e {q(path)} ]; then w='not a regular file'; "
                f'else w=missing; fi; echo "{MARK}-CERT $w {path}"; fi; '
            )
    for master in profile.masters:
        url = q(f"https://{url_host(master.address)}:{master.apiserver_port}{hc.path}")
        anon = f"a=$(curl -gsk -o /dev/null -m 5 -w '%{{http_code}}' {url} 2>/dev/null); "
        if hc.auth == "client-cert":
            checked = (
                f"c=$(curl -gsk {hc.curl_auth} -o /dev/null -m 5 -w '%{{http_code}}' {url} "
                "2>/dev/null); "
            )
        else:
            checked = 'c="$a"; '
        parts.append(f'{anon}{checked}echo "{MARK} {master.name} ${{a:-000}} ${{c:-000}}"; ')
    return "".join(parts)


def parse(node: str, stdout: str) -> NodeAnswers:
    anonymous: dict[str, str] = {}
    checked: dict[str, str] = {}
    cert = ""
    for line in stdout.splitlines():
        words = line.split()
        if words[:1] == [f"{MARK}-CERT"]:
            cert = " ".join(words[1:])
        elif words[:1] == [MARK] and len(words) == 4:
            anonymous[words[1]], checked[words[1]] = words[2], words[3]
    return NodeAnswers(node, anonymous, checked, cert)


def advice(profile: Profile, answers: list[NodeAnswers]) -> str:
    """Which mode the cluster needs, from what anonymous requests got."""
    codes = {c for a in answers for c in a.anonymous.values()}
    if codes & {"401", "403"}:
        return (
            "the apiservers refuse anonymous /readyz (401/403: --anonymous-auth=false or no "
            'system:public-info-viewer): set [health_check] auth = "client-cert" (kubelet\'s '
            "certificate or one the profile names: readiness read, a draining master seen) or "
            '"alive-on-401" (any answer counts: a draining master is not seen)'
        )
    if "200" in codes:
        return 'the apiservers answer anonymous /readyz: auth = "anonymous" reads readiness'
    return "no master answered /readyz from this node"


def problems(profile: Profile, answers: list[NodeAnswers]) -> tuple[list[str], list[str]]:
    """(problems that stop the run, what was seen)."""
    hc = profile.health_check
    found: list[str] = []
    seen: list[str] = []
    for a in answers:
        if a.error:  # its own job fails at connect; it never stops the others
            seen.append(f"{a.node}: not asked (cannot connect: {printable(a.error)})")
            continue
        if a.cert:
            found.append(
                f"{a.node}: health_check.client_cert: {printable(a.cert)}: expected the "
                "client certificate (PEM with its key) on every node that checks"
            )
            continue
        codes = ", ".join(
            f"{m} {a.checked.get(m, '000')}" for m in (x.name for x in profile.masters)
        )
        up = [m for m, c in a.checked.items() if c in hc.ok_codes]
        if not up:
            found.append(
                f'{a.node}: with health_check.auth = "{hc.auth}" every master fails the '
                f"check ({printable(codes)}): kubeha would see no master there; "
                + advice(profile, [a])
            )
        else:
            seen.append(f'{a.node}: auth "{hc.auth}": {len(up)} of {len(a.checked)} masters up')
    if not found:
        seen.append(advice(profile, [a for a in answers if not a.error]))
    return found, seen


def node_check(profile: Profile) -> Callable[[str, RemoteNode], list[str]]:
    """What a node's job asks before it changes anything: the problems of that node's view
    (empty: its checks see a master up)."""
    text = script(profile)

    def check(name: str, node: RemoteNode) -> list[str]:
        result = node.sh(text, timeout=15 + 12 * len(profile.masters))
        found, _ = problems(profile, [parse(name, result.stdout)])
        return found

    return check


def run_preflight(
    profile: Profile,
    names: list[str],
    lease: Callable[[str], AbstractContextManager[RemoteNode]],
    workers: int = 8,
) -> tuple[list[str], list[str]]:
    """Every node in ``names`` asks every master (in parallel), on the connection ``lease``
    gives (the run's: kept for the node's job, :mod:`wizard.engine.shared_connections`)."""
    text = script(profile)

    def one(name: str) -> NodeAnswers:
        try:
            with lease(name) as node:
                result = node.sh(text, timeout=15 + 12 * len(profile.masters))
            return parse(name, result.stdout)
        except Exception as exc:  # an SSH or lock error: the run stops, named
            return NodeAnswers(name, {}, {}, error=str(exc))

    with concurrent.futures.ThreadPoolExecutor(
        max(1, min(workers, len(names) or 1)), thread_name_prefix="kubeha-auth"
    ) as pool:
        answers = list(pool.map(one, names))
    return problems(profile, answers)
