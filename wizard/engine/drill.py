"""The failover drill: bounded request loops and open watch streams on every client node, one
master taken away during them and then restored, and per node what the clients saw.

Definitions (the same in the CLI, the tests and docs/BENCHMARKS.md):

* a request is *lost in flight* when it was already running at the moment of the fault and got
  no 200: a TCP proxy cannot replay a request whose bytes already went to the master that died;
* a request *failed* when it started after the fault and got no 200 within curl's limit — the
  figure a load balancer is responsible for, and the one that must be zero;
* a request *stalled* when it got its 200 but took more than :data:`STALL_S`;
* *recovered after* is the time from the fault until the end of the last request that was lost,
  failed or stalled (0 when none was);
* a *kept-alive* client sends the same requests over one connection it keeps (as client-go
  does), opening a new one only when that one ends; its figures are kept apart: failed (started
  after the fault, no 200), lost in flight, and *back after*, the time from the fault to the end
  of its last request that failed or stalled;
* a watch stream is *interrupted* when it went more than :data:`WATCH_GAP_S` without an event (the
  lab's apiserver sends one a second), or more than :data:`WATCH_FAULT_GAP_S` across the fault
  itself (a stream the fault broke and that came back more than 2 s after it is interrupted
  too: its client waited); *watch back after* is the time from the fault to the first event after the
  last such gap, ``None`` when no event came back before the drill ended.

The loops run as one shell script per node (over SSH for profiles; any runner for the bench),
every loop bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wizard.engine.remote import q

STALL_S = 1.0
WATCH_GAP_S = 2.5
# Across the fault: two of the lab's events a second. A watch back more than 2 s after the fault
# had a gap longer than that, so none is hidden; a loaded host must delay an event by a whole
# second to make one up (a drain's watches are not interrupted, and the lab tests say so).
WATCH_FAULT_GAP_S = 2.0
WATCH_PATH = "/api/v1/namespaces/default/pods?watch=true"
# A client's request, not a health check: a draining master answers /readyz with 500 (it must,
# so that load balancers take it out) while it still serves every API request.
REQUEST_PATH = "/version"

Runner = Callable[[str, float], str]  # (shell script, timeout) -> stdout


@dataclass(frozen=True)
class DrillTiming:
    """Seconds: loops start, ``lead`` later the fault, ``hold`` later the restore, loops end at
    ``duration``."""

    lead: float = 2.5
    hold: float = 8.0  # longer than the 5 s a watch may take to come back: no hiding behind
    duration: float = 16.0  # a restore that revives a stalled stream
    interval: float = 0.1
    max_time: float = 5.0
    watches: int = 3  # watch streams per node (least-conn spreads them over the masters)
    kept_alive: bool = True  # one kept-alive client per node beside the new-connection loop
    # curl's credentials on every request and watch: the check's client certificate where
    # [health_check] auth = "client-cert" (an apiserver that refuses anonymous requests).
    auth: str = ""

    @property
    def count(self) -> int:
        return int(self.duration / self.interval) + 1


SHORT = DrillTiming(lead=2.0, hold=7.0, duration=12.0)
REAL = DrillTiming(lead=3.0, hold=40.0, duration=70.0)


@dataclass(frozen=True)
class Request:
    start: float
    code: str
    seconds: float
    master: str

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass(frozen=True)
class NodeDrill:
    node: str
    requests: int = 0
    failed: int = 0
    lost_in_flight: int = 0
    stalled: int = 0
    recovered_s: float = 0.0
    watches: int = 0  # streams that delivered events before the fault
    watches_interrupted: int = 0
    watch_back_s: float | None = 0.0  # None: a stream never came back
    masters: tuple[str, ...] = ()
    error: str = ""
    ka_requests: int = 0  # the kept-alive client (0: not measured, e.g. a curl without --rate)
    ka_failed: int = 0
    ka_lost_in_flight: int = 0
    ka_back_s: float = 0.0
    ka_connections: int = 0  # connections it opened, the first included

    @property
    def ok(self) -> bool:
        """Zero failed requests and every watch back within 5 s."""
        return (
            not self.error
            and self.requests > 0
            and self.failed == 0
            and self.watch_back_s is not None
            and self.watch_back_s <= 5.0
        )


@dataclass(frozen=True)
class DrillReport:
    profile: str
    strategy: str
    master: str
    kind: str
    lab: bool
    nodes: tuple[NodeDrill, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.nodes) and all(n.ok for n in self.nodes)


def watch_url(verify_url: str) -> str:
    parts = urlsplit(verify_url)
    return f"{parts.scheme}://{parts.netloc}{WATCH_PATH}"


def request_url(verify_url: str) -> str:
    parts = urlsplit(verify_url)
    return f"{parts.scheme}://{parts.netloc}{REQUEST_PATH}"


def loop_script(url: str, watch: str, timing: DrillTiming) -> str:
    """The node's side: ``T`` start time, ``R start code seconds master`` per request and
    ``W stream open|event|closed time`` per watch line. Ends by itself after ``duration``."""
    awk = 'awk \'/^[Xx]-[Ll]ab-[Mm]aster:/ {m=$2} /^RESULT/ {print $2, $3, (m=="" ? "-" : m)}\''
    duration = int(timing.duration + 0.999)
    return (
        f'echo "T $(date +%s.%N)"; end=$(( $(date +%s) + {duration} )); i=0; '
        f"while [ $i -lt {timing.watches} ]; do "
        f"( while :; do left=$(( end - $(date +%s) )); [ $left -ge 1 ] || break; "
        f'echo "W $i open $(date +%s.%N)"; '
        f"curl -s -k{_auth(timing)} -N -m $left {q(watch)} 2>/dev/null | "
        f'while IFS= read -r l; do echo "W $i event $(date +%s.%N)"; done; '
        f'echo "W $i closed $(date +%s.%N)"; sleep 0.2; done ) & '
        f"i=$((i+1)); done; "
        f"{kept_alive_script(url, timing) if timing.kept_alive else ''}"
        f"n=0; while [ $n -lt {timing.count} ] && [ $(date +%s) -lt $end ]; do n=$((n+1)); "
        f"s=$(date +%s.%N); "
        f"r=$(curl -s -k{_auth(timing)} -D - -o /dev/null -m {timing.max_time:g} "
        f"-w 'RESULT %{{http_code}} %{{time_total}}\\n' {q(url)} 2>/dev/null | tr -d '\\r' | {awk}); "
        f'echo "R $s ${{r:-000 {timing.max_time:g} -}}"; sleep {timing.interval:g}; done; wait'
    )


def _auth(timing: DrillTiming) -> str:
    return f" {timing.auth}" if timing.auth else ""


def kept_alive_script(url: str, timing: DrillTiming) -> str:
    """The node's kept-alive client: one curl for every request, at most one every
    ``interval`` (``--rate``), over one connection it keeps and re-opens when it ends; ``KT``
    its start time, then ``K code seconds connects`` per request. A curl without --rate (older
    than 7.84) prints no K line: the figures then say "not measured". Bounded by ``timeout``."""
    rate = max(1, round(1 / timing.interval))
    limit = int(timing.duration + 3 * timing.max_time + 0.999)
    # Line-buffered (stdbuf): a curl that the time limit ends must not take its lines with it.
    return (
        f'( echo "KT $(date +%s.%N)"; '
        f"timeout {limit} stdbuf -oL curl -g -s -k{_auth(timing)} --rate {rate}/s "
        f"-m {timing.max_time:g} "
        f"-w 'K %{{http_code}} %{{time_total}} %{{num_connects}}\\n' "
        f"$(i=0; while [ $i -lt {timing.count} ]; do i=$((i+1)); "
        f"printf '%s ' -o /dev/null {q(url)}; done) 2>/dev/null ) & "
    )


def _kept_alive(lines: list[list[str]], base: float | None, interval: float) -> list[Request]:
    """Requests of the kept-alive client, their starts rebuilt from its start time: each one
    ``interval`` after the one before, or when the one before ended if that was later."""
    if base is None:
        return []
    requests: list[Request] = []
    start = base
    for i, parts in enumerate(lines):
        if requests:
            start = max(base + i * interval, requests[-1].end)
        requests.append(Request(start, parts[1], float(parts[2]), "-"))
    return requests


def _bad_requests(requests: list[Request], before: float, after: float):
    """(failed, lost in flight, stalled, end of the last bad one after the fault)."""
    lost = failed = stalled = 0
    worst_end = before
    for r in requests:
        in_flight = r.start < after and r.end > before
        bad = r.code != "200" or r.seconds > STALL_S
        if r.code != "200":
            if in_flight:
                lost += 1
            else:
                failed += 1
        elif r.seconds > STALL_S:
            stalled += 1
        if bad and r.end > before:
            worst_end = max(worst_end, r.end)
    return failed, lost, stalled, worst_end


def parse_loop(
    node: str,
    stdout: str,
    fault: tuple[float, float],
    shift: float = 0.0,
    interval: float = 0.1,
) -> NodeDrill:
    """Per-node figures from :func:`loop_script`'s output. ``fault`` is (just before, just after)
    the fault in the node's clock after adding ``shift``."""
    before, after = fault
    requests: list[Request] = []
    events: dict[str, list[float]] = {}
    opens_after = 0
    ka_base: float | None = None
    ka_lines: list[list[str]] = []
    for line in stdout.splitlines():
        parts = line.split()
        with contextlib.suppress(ValueError, IndexError):
            if parts[0] == "KT" and len(parts) >= 2:
                ka_base = float(parts[1]) + shift
            elif parts[0] == "K" and len(parts) >= 4:
                float(parts[2]), int(parts[3])  # a whole line or none
                ka_lines.append(parts)
            elif parts[0] == "R" and len(parts) >= 5:
                requests.append(
                    Request(float(parts[1]) + shift, parts[2], float(parts[3]), parts[4])
                )
            elif parts[0] == "W" and len(parts) >= 4:
                stamp = float(parts[3]) + shift
                if parts[2] == "event":
                    events.setdefault(parts[1], []).append(stamp)
                elif parts[2] == "open" and stamp > before:
                    opens_after += 1
    if not requests:
        return NodeDrill(node, error="no request ran (the loop did not start)")
    failed, lost, stalled, worst_end = _bad_requests(requests, before, after)
    kept = _kept_alive(ka_lines, ka_base, interval)
    ka_failed, ka_lost, _ka_stalled, ka_end = _bad_requests(kept, before, after)
    watches = interrupted = 0
    back: float | None = 0.0
    for stamps in events.values():
        stamps.sort()
        if not any(t <= before for t in stamps):
            continue  # this stream never delivered before the fault: nothing to compare
        watches += 1
        later = [t for t in stamps if t > before]
        if not later:
            interrupted += 1
            back = None
            continue
        points = [max(t for t in stamps if t <= before), *later]
        ends = [b for a, b in itertools.pairwise(points) if b - a > WATCH_GAP_S]
        if points[1] - points[0] > WATCH_FAULT_GAP_S:  # the gap the fault falls in
            ends.append(points[1])
        if ends:
            interrupted += 1
            if back is not None:
                back = max(back, max(ends) - before)
    masters = tuple(sorted({r.master for r in requests if r.master not in ("-", "")}))
    return NodeDrill(
        node,
        requests=len(requests),
        failed=failed,
        lost_in_flight=lost,
        stalled=stalled,
        recovered_s=round(worst_end - before, 2),
        watches=watches,
        watches_interrupted=interrupted,
        watch_back_s=None if back is None else round(back, 2),
        masters=masters,
        ka_requests=len(kept),
        ka_failed=ka_failed,
        ka_lost_in_flight=ka_lost,
        ka_back_s=round(ka_end - before, 2),
        ka_connections=sum(int(parts[3]) for parts in ka_lines),
    )


class Fault:
    """Takes one master away and brings it back."""

    def take(self) -> None:
        raise NotImplementedError

    def restore(self) -> None:
        raise NotImplementedError


def run_loops(
    runners: dict[str, Runner],
    url_for: Callable[[str], str],
    fault: Fault,
    timing: DrillTiming,
    wall_clock: bool,
) -> tuple[list[NodeDrill], list[str]]:
    """Start every node's loop, take the master away ``lead`` seconds in, restore it ``hold``
    seconds later, collect. ``wall_clock``: the nodes share this machine's clock (the lab);
    otherwise each node's clock is mapped through the moment its loop was started."""
    outputs: dict[str, str] = {}
    errors: dict[str, str] = {}
    launched: dict[str, float] = {}

    def run(name: str) -> None:
        url = url_for(name)
        script = loop_script(request_url(url), watch_url(url), timing)
        launched[name] = time.time()
        try:
            outputs[name] = runners[name](script, timing.duration + timing.max_time + 30)
        except Exception as exc:  # unreachable node: its row says why
            errors[name] = str(exc) or type(exc).__name__

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in runners]
    began = time.time()
    for thread in threads:
        thread.start()
    notes: list[str] = []
    time.sleep(max(0.0, began + timing.lead - time.time()))
    before = time.time()
    try:
        fault.take()
    except Exception as exc:
        notes.append(f"the fault could not be made: {exc}")
    after = time.time()
    time.sleep(max(0.0, after + timing.hold - time.time()))
    try:
        fault.restore()
    except Exception as exc:
        notes.append(f"the restore failed: {exc}")
    for thread in threads:
        thread.join(timing.duration + timing.max_time + 60)
    results = []
    for name in runners:
        if name in errors or name not in outputs:
            results.append(NodeDrill(name, error=errors.get(name, "the loop did not finish")))
            continue
        shift = 0.0
        if not wall_clock:
            first = next((ln for ln in outputs[name].splitlines() if ln.startswith("T ")), None)
            if first is not None:
                shift = launched[name] - float(first.split()[1])
        results.append(parse_loop(name, outputs[name], (before, after), shift, timing.interval))
    return results, notes


def drill_rows(report: DrillReport) -> list[tuple[str, ...]]:
    header = (
        "node",
        "result",
        "requests",
        "failed",
        "lost in flight",
        "stalled >1s",
        "recovered after",
        "watches cut",
        "watch back after",
        "kept-alive failed",
        "kept-alive back",
        "masters",
    )
    rows: list[tuple[str, ...]] = [header]
    for n in report.nodes:
        if n.error:
            rows.append((n.node, "ERROR", *("-",) * 9, n.error[:60]))
            continue
        rows.append(
            (
                n.node,
                "ok" if n.ok else "FAILED",
                str(n.requests),
                str(n.failed),
                str(n.lost_in_flight),
                str(n.stalled),
                f"{n.recovered_s:.1f} s",
                f"{n.watches_interrupted}/{n.watches}",
                "never" if n.watch_back_s is None else f"{n.watch_back_s:.1f} s",
                f"{n.ka_failed + n.ka_lost_in_flight}/{n.ka_requests}" if n.ka_requests else "-",
                f"{n.ka_back_s:.1f} s" if n.ka_requests else "not measured",
                ",".join(n.masters) or "-",
            )
        )
    return rows
