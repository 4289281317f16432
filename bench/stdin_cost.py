"""What a command's stdin costs over kubeha's SSH transport: a sudo password line (what every
command on a node with ``sudo -k -S`` is sent first) or a kubectl patch, invoke's own way (it
reads a stream that is not a terminal one byte per 10 ms pass) against kubeha's (the whole text
at once).

``python -m bench.stdin_cost [--rounds 5] [--commands 10] [--bytes 25]`` (a 1.2 kB patch the old
way takes ~13 s a command: ``--rounds 3 --commands 2 --bytes 1200``): a real OpenSSH
sshd on 127.0.0.1 (tests/support/sshd.py, its PID stopped at the end), one connection; for each
size, rounds of ``--commands`` commands (``cat >/dev/null`` fed that many bytes) the two ways,
interleaved, so that a host whose load moves weighs on both alike. Prints the median and range
of the time per command. Needs no lab and sends nothing beyond loopback.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from wizard.engine.transport import SshTransport, _WholeStdin

WAYS = ("byte by byte (invoke)", "whole (kubeha)")


def _per_command(
    transport: SshTransport, stream: type[io.StringIO], text: str, commands: int
) -> float:
    """Seconds per command fed ``text`` through ``stream`` (what the transport hands invoke)."""
    started = time.monotonic()
    for _ in range(commands):
        result = transport.connection.run(
            "cat >/dev/null", hide=True, warn=True, timeout=120, in_stream=stream(text)
        )
        if result.exited != 0:
            raise SystemExit(f"the command failed: {result.stderr.strip()[:200]}")
    return (time.monotonic() - started) / commands


def measure(rounds: int, commands: int, sizes: Sequence[int]) -> dict[int, dict[str, list[float]]]:
    """Seconds per command, per size and way, one figure per round."""
    from tests.support.sshd import running_sshd

    folder = Path(tempfile.mkdtemp(prefix="kubeha-sshd-", dir="/var/tmp"))
    figures: dict[int, dict[str, list[float]]] = {s: {w: [] for w in WAYS} for s in sizes}
    try:
        with running_sshd(folder) as sshd:
            transport = sshd.transport()
            try:
                for size in sizes:
                    text = ("x" * (size - 1)) + "\n"
                    for _ in range(rounds):
                        for way, stream in zip(WAYS, (io.StringIO, _WholeStdin), strict=True):
                            per = _per_command(transport, stream, text, commands)
                            figures[size][way].append(per)
            finally:
                transport.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stdin_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=10, help="commands per round")
    parser.add_argument(
        "--bytes", default="25", help="stdin sizes in bytes, comma separated (default 25)"
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.bytes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--bytes {args.bytes!r}: expected sizes in bytes, e.g. 25,1200")
    if not sizes or min(sizes) < 1 or args.rounds < 1 or args.commands < 1:
        parser.error("--bytes, --rounds and --commands must be positive")
    figures = measure(args.rounds, args.commands, sizes)
    print("| stdin | way | per command (median) | range |")
    print("|---|---|---|---|")
    for size, ways in figures.items():
        for way, values in ways.items():
            med = statistics.median(values) * 1000
            print(
                f"| {size} B | {way} | {med:.0f} ms | "
                f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
