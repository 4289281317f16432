"""The lab's SSH forwarder: 127.0.0.1:<port> in the host namespace -> <node>:22 in the lab.

It binds every listening socket in the host namespace first, then moves itself into the
bridge namespace (``setns``) before starting any thread, so each outgoing connection is made
inside the lab while the listeners stay reachable from the host. Run as
``python -m wizard.lab.forwarder --netns kubeha-lab --ready-file F PORT=ADDR:22 ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 5.0
BUFFER = 65536


def enter_netns(name: str) -> None:
    """Move the calling thread (before any other thread exists: the process) into ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if hasattr(os, "setns"):  # Python 3.12+
            os.setns(fd, CLONE_NEWNET)
        else:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(BUFFER)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _serve_connection(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=CONNECT_TIMEOUT)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    other = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    other.start()
    _pump(client, upstream)
    other.join()
    client.close()
    upstream.close()


def _accept_loop(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        threading.Thread(target=_serve_connection, args=(client, target), daemon=True).start()


def parse_mapping(text: str) -> tuple[int, tuple[str, int]]:
    """``2211=10.77.0.11:22`` -> (2211, ("10.77.0.11", 22))."""
    port, target = text.split("=", 1)
    host, target_port = target.rsplit(":", 1)
    return int(port), (host, int(target_port))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wizard.lab.forwarder")
    parser.add_argument("--netns", required=True)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("mappings", nargs="+", type=parse_mapping)
    args = parser.parse_args(argv)

    listeners = []
    for port, target in args.mappings:  # bound in the host namespace
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.listen, port))
        sock.listen(128)
        listeners.append((sock, target))
    enter_netns(args.netns)  # connections from here on are made inside the lab
    threads = [
        threading.Thread(target=_accept_loop, args=(sock, target), daemon=True)
        for sock, target in listeners
    ]
    for thread in threads:
        thread.start()
    if args.ready_file:
        args.ready_file.write_text(f"{os.getpid()}\n")
    print(f"forwarding {len(listeners)} ports into {args.netns}", file=sys.stderr, flush=True)
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
