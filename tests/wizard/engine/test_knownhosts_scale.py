"""A large known_hosts (an enterprise's global file of every host) is looked up without a regular
expression per line: plain host names are compared as text, only ``*``/``?`` patterns are
matched as patterns. Before, each lookup compiled one regex per line (300,000 lines: about 2 s a
lookup, about 50 s before one node was reached; ``ssh-keygen -F`` takes 0.05 s)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from wizard.engine import knownhosts
from wizard.engine.knownhosts import KnownHosts, host_matches

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
OTHER_BLOB = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + b"\x01" * 32)
OTHER = f"ssh-ed25519 {OTHER_BLOB.decode()}"


def test_plain_host_lines_need_no_regex(tmp_path: Path, monkeypatch):
    lines = [f"h{i}.example,10.1.{i // 250}.{i % 250} {KEY}" for i in range(20000)]
    lines += [f"*.wild.example,!bad.wild.example {OTHER}", f"[Node1.Example]:2222 {OTHER}"]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    known = KnownHosts.load([path])
    calls = []
    real = re.fullmatch

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(knownhosts.re, "fullmatch", counting)
    assert [k.line for k in known.for_host("[node1.example]:2222")] == [20002]
    assert [k.line for k in known.for_host("h19999.example")] == [20000]
    assert [k.line for k in known.for_host("a.wild.example")] == [20001]
    assert known.for_host("bad.wild.example") == []
    assert len(calls) <= 8, f"{len(calls)} regex matches for 4 lookups"


def test_patterns_still_match_as_openssh_does():
    assert host_matches("node1", "NODE1")
    assert host_matches("[10.0.0.1]:22", "[10.0.0.1]:22")
    assert not host_matches("node10", "node1")
    assert host_matches("node10", "node?0")
    assert host_matches("a.b.example", "*.example")
    assert not host_matches("a.example", "*.example,!a.example")
    assert not host_matches("node.x", "node.y")
    assert host_matches("n.+x", "n.+x")  # regex characters are literal
    assert not host_matches("nax", "n.x")
