"""How long a test waits for a behaviour on a loaded host: a test proves that something happened
(removed, closed, back), never how fast; tight figures belong in bench/.

Machines of this kind differ about 2x in speed and are often loaded (a CI run shares its two
cores with the lab's nodes and a QEMU guest under software emulation). A bound measured on a
quiet host is therefore given LOADED_FACTOR times its length plus SLACK_S before a test fails:
a check that is merely slow still passes, one that never acts (a watch stuck until the master
returns, a dead master kept in the table) still fails. Where the scenario itself ends sooner
(the fault is restored, the stream's own limit), the test asserts against that end instead.
"""

from __future__ import annotations

LOADED_FACTOR = 3.0
SLACK_S = 2.0
POLL_S = 30.0  # a local loop (a fake ipvsadm, a follower) reacting to a change: wait this long


def on_loaded_host(quiet_bound_s: float) -> float:
    """The deadline for something a quiet host does within ``quiet_bound_s`` seconds."""
    return quiet_bound_s * LOADED_FACTOR + SLACK_S
