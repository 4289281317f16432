"""The agent's hands on haproxy (local-haproxy, haproxy-keepalived): the backend's servers
changed through haproxy's runtime API (the admin socket kubeha's config opens), so nothing is
reloaded and no connection is closed.

A master the list adds becomes a checked server with the same parameters as the config's and
its unchecked backup (never every master out, as the config does it); a draining master's
servers are set to ``drain`` (no new connection, the open ones stay); a master that left the
list is set to ``maint``, its sessions shut, its servers deleted. Servers are found by address
and port, not by name: the config names the profile's masters (``m1``), the agent names the
ones it adds (``kubeha-10-77-0-14-6443``).

A master the list adds takes a spare slot first when the config has them (``kubeha-spare<N>``
and its ``-unchecked`` backup, written ``disabled`` at 0.0.0.0 by kubeha with every option of a
real server line): its address is set, its check enabled, its state made ready. haproxy 2.6
refuses some options on a server added at runtime (``tcp-ut``), and a spare has them all. A
spare that leaves the list is put back in maintenance at 0.0.0.0, free again. Only when every
spare is taken is a server added at runtime (without the refused options, counted).

Every round reconciles the whole backend with the list (``show servers state``), so what a
restart of haproxy forgets (runtime servers are not written to its config) is put back at the
next round.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

from wizard.agent.loop import BalancerError
from wizard.agent.roster import Member, Roster, State

UNCHECKED = "-unchecked"
SPARE = "kubeha-spare"  # the spare slots' names: kubeha-spare1, kubeha-spare1-unchecked, ...
FREE_ADDRESS = "0.0.0.0"  # a spare that carries no master
READ_LIMIT = 1 << 22
# haproxy 2.6 refuses some server keywords on a server added at runtime ("'tcp-ut' option is
# not accepted for dynamic server"): the agent adds the server without them, says so, and counts
# it. Their arity, to drop a keyword with its value; one not listed is not dropped (an error).
KEYWORD_ARITY = {"tcp-ut": 1, "slowstart": 1, "track": 1, "init-addr": 1, "resolvers": 1}
_REFUSED = re.compile(r"'([a-z-]+)' option is not accepted for dynamic server")
# What the runtime API answers when a command did what it was asked.
QUIET_ANSWERS = ("New server registered", "Server deleted", "Done.")
# What "del server" answers while the sessions "shutdown sessions" marked are not closed yet.
STILL_HELD = "still has connections attached"
HELD_RETRY_S = 0.05


def _name_for(member: Member) -> str:
    return "kubeha-" + re.sub(r"[^0-9A-Za-z]+", "-", f"{member.address}-{member.port}")


@dataclass(frozen=True)
class Server:
    """One server line of the backend as haproxy runs it."""

    name: str
    member: Member
    admin_state: int  # bit 0x01: maintenance (forced); 0x08: drain (forced)
    backup: bool  # the unchecked backup line of a master (named "<checked name>-unchecked")

    @property
    def draining(self) -> bool:
        return bool(self.admin_state & 0x08)

    @property
    def spare(self) -> bool:
        return self.name.startswith(SPARE)

    @property
    def free(self) -> bool:
        """A spare slot that carries no master."""
        return self.spare and self.member.address == FREE_ADDRESS


@dataclass(frozen=True)
class HaproxyRuntime:
    """haproxy's admin socket, the backend kubeha writes, and its server parameters."""

    admin_socket: str
    backend: str = "kube-apiserver"
    server_params: str = "check check-ssl verify none inter 1000ms fall 2 rise 2"
    backup_params: str = "backup"
    timeout_s: float = 5.0
    # the keywords haproxy refused on a runtime server (tcp-ut on 2.6), for the journal
    dropped: set[str] = field(default_factory=set, compare=False)

    def command(self, line: str) -> str:
        """One runtime API command; its answer. A socket that cannot be reached is a
        :class:`BalancerError` naming it."""
        if "\n" in line or ";" in line:
            raise BalancerError(f"runtime command: {line!r}: expected one command")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout_s)
                conn.connect(self.admin_socket)
                conn.sendall(line.encode() + b"\n")
                chunks: list[bytes] = []
                while sum(map(len, chunks)) < READ_LIMIT:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as error:
            raise BalancerError(f"haproxy admin socket {self.admin_socket}: {error}") from None
        return b"".join(chunks).decode("utf-8", "replace")

    def servers(self) -> list[Server]:
        """The backend's servers (``show servers state``, format 1)."""
        text = self.command(f"show servers state {self.backend}")
        lines = [line for line in text.splitlines() if line.strip()]
        header = next((line for line in lines if line.startswith("# be_id")), None)
        if header is None:
            raise BalancerError(f"show servers state {self.backend}: {text[:200]!r}: no header")
        names = header[2:].split()
        found: list[Server] = []
        for line in lines:
            if not line[:1].isdigit():
                continue
            row = dict(zip(names, line.split()))
            if row.get("be_name") != self.backend:
                continue
            name = row["srv_name"]
            member = Member(row["srv_addr"], int(row["srv_port"]))
            found.append(
                Server(name, member, int(row["srv_admin_state"]), name.endswith(UNCHECKED))
            )
        return found

    def _expect_empty(self, line: str) -> None:
        answer = self.command(line).strip()
        if answer and not answer.startswith(QUIET_ANSWERS):
            raise BalancerError(f"{line}: {answer[:200]!r}")

    def apply(self, roster: Roster) -> None:
        running = self.servers()
        by_member: dict[Member, list[Server]] = {}
        free = sorted(s.name for s in running if s.free and not s.backup)
        free_backups = {s.name for s in running if s.free and s.backup}
        for server in running:
            if not server.free:
                by_member.setdefault(server.member, []).append(server)
        wanted = dict(roster.members)
        for member, state in roster.members:
            have = by_member.get(member, [])
            checked = [s for s in have if not s.backup]
            backups = [s for s in have if s.backup]
            name = checked[0].name if checked else _name_for(member)
            if not checked and not backups and free and free[0] + UNCHECKED in free_backups:
                name = free.pop(0)
                free_backups.discard(name + UNCHECKED)
                self._claim(name, member, checked=True)
                self._claim(name + UNCHECKED, member, checked=False)
                checked = [Server(name, member, 0, False)]
                backups = [Server(name + UNCHECKED, member, 0, True)]
            if not checked:
                self._add(name, member, self.server_params, checked=True)
            if not backups:
                self._add(name + UNCHECKED, member, self.backup_params, checked=False)
            target = "drain" if state is State.DRAINING else "ready"
            for server in [*checked, *backups]:
                if server.draining != (state is State.DRAINING):
                    self._expect_empty(f"set server {self.backend}/{server.name} state {target}")
            if state is State.DRAINING and not checked:
                self._expect_empty(f"set server {self.backend}/{name} state drain")
                self._expect_empty(f"set server {self.backend}/{name}{UNCHECKED} state drain")
        for member, servers in by_member.items():
            if member in wanted:
                continue
            for server in servers:
                if server.spare:
                    self._release(server.name)
                else:
                    self._remove(server.name)

    def _add(self, name: str, member: Member, params: str, checked: bool) -> None:
        words = params.split()
        for _ in range(len(KEYWORD_ARITY) + 1):
            line = f"add server {self.backend}/{name} {member} {' '.join(words)}"
            answer = self.command(line).strip()
            refused = _REFUSED.search(answer)
            if refused is None or refused.group(1) not in words:
                break
            at = words.index(refused.group(1))
            if refused.group(1) not in KEYWORD_ARITY:
                raise BalancerError(f"{line}: {answer[:200]!r}")
            del words[at : at + 1 + KEYWORD_ARITY[refused.group(1)]]
            self.dropped.add(refused.group(1))
        if answer and not answer.startswith(QUIET_ANSWERS):
            raise BalancerError(f"{line}: {answer[:200]!r}")
        if checked and "check" in params.split():
            self._expect_empty(f"enable health {self.backend}/{name}")
        self._expect_empty(f"set server {self.backend}/{name} state ready")

    def _set_address(self, name: str, member: Member) -> None:
        line = f"set server {self.backend}/{name} addr {member.address} port {member.port}"
        answer = self.command(line).strip()
        if "changed" not in answer and "no need to change" not in answer:
            raise BalancerError(f"{line}: {answer[:200]!r}")

    def _claim(self, name: str, member: Member, checked: bool) -> None:
        """A free spare slot made ``member``'s server: its address, its check, ready."""
        self._set_address(name, member)
        if checked and "check" in self.server_params.split():
            self._expect_empty(f"enable health {self.backend}/{name}")
        self._expect_empty(f"set server {self.backend}/{name} state ready")

    def _release(self, name: str) -> None:
        """A spare slot freed: no traffic, its sessions shut, back at 0.0.0.0."""
        self._expect_empty(f"set server {self.backend}/{name} state maint")
        self._expect_empty(f"shutdown sessions server {self.backend}/{name}")
        self._set_address(name, Member(FREE_ADDRESS, 1))

    def _remove(self, name: str) -> None:
        """``name`` out of the backend: maintenance, its sessions shut, deleted. haproxy shuts
        sessions asynchronously ("shutdown sessions" only marks them): until their threads have
        closed them, ``del server`` answers that the server still has connections, so it is
        asked again for at most ``timeout_s``; a server still held then stays in maintenance
        (no traffic) and the next round deletes it (a :class:`BalancerError` for the journal)."""
        self._expect_empty(f"set server {self.backend}/{name} state maint")
        self._expect_empty(f"shutdown sessions server {self.backend}/{name}")
        line = f"del server {self.backend}/{name}"
        deadline = time.monotonic() + self.timeout_s
        while True:
            answer = self.command(line).strip()
            if not answer or answer.startswith(QUIET_ANSWERS):
                return
            if STILL_HELD not in answer or time.monotonic() >= deadline:
                raise BalancerError(f"{line}: {answer[:200]!r}")
            time.sleep(HELD_RETRY_S)

    def up(self) -> bool:
        try:
            self.command("show info")
        except BalancerError:
            return False
        return True

    def connections(self) -> dict[Member, int]:
        """Current sessions per master (``show stat``'s scur, checked and backup together)."""
        text = self.command("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        names = lines[0][2:].split(",")
        addresses = {s.name: s.member for s in self.servers() if not s.free}
        found: dict[Member, int] = {}
        for line in lines[1:]:
            row = dict(zip(names, line.split(",")))
            member = addresses.get(row.get("svname", ""))
            if row.get("pxname") == self.backend and member is not None:
                found[member] = found.get(member, 0) + int(row.get("scur") or 0)
        return found
