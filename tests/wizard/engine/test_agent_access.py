"""The node agent's discovery credentials (wizard.engine.run_phases.agent_access) against a
stand-in master whose kubectl keeps objects in memory: each object created once and recorded
before, one that kubeha did not make refused and left alone, the token added to every node's
plan root-only and never in any text the run shows, every object given back by uninstall only
when it is still kubeha's."""

from __future__ import annotations

import base64
import json
import threading
from types import SimpleNamespace

import pytest

from tests.support.examples import changed, example_profile
from wizard.engine.file_changes import compare
from wizard.engine.model import NodeResult, NodeState
from wizard.engine.phase import RunMode, RunStopped
from wizard.engine.run_phases import agent_access
from wizard.engine.shared_connections import SharedConnections
from wizard.engine.transport import CommandResult
from wizard.strategies import node_agent, registry

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-part"


class Master:
    """A master's SSH session: kubectl over an in-memory API, files in a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.files: dict[str, str] = {}
        self.log: list[str] = []
        self.uids = 0

    # RemoteNode's side
    @property
    def transport(self):
        return SimpleNamespace(close=lambda: None)

    def read_text(self, path):
        return self.files.get(path)

    def write_private_file(self, path, text):
        self.files[path] = text

    def remove_made_folders(self):  # folders are not modelled here (test_made_folders.py)
        self.log.append("remove made folders")
        return []

    def sh(self, script, timeout=120):
        return self.run(["sh", "-c", script], timeout=timeout)

    def run(self, argv, timeout=120, stdin=None):
        argv = list(argv)
        self.log.append(" ".join(argv) + (f" <<{stdin}" if stdin else ""))
        ok = lambda out="": CommandResult(tuple(argv), 0, out, "")  # noqa: E731
        if argv[:2] == ["sh", "-c"] and "test -r" in argv[2]:
            return ok("ok" if "admin.conf" in argv[2] else "")
        if argv[:2] == ["sh", "-c"] and " create " in argv[2]:
            obj = json.loads(stdin)
            meta = obj["metadata"]
            self.uids += 1
            made = {**obj, "metadata": {**meta, "uid": f"uid-{self.uids}"}}
            if obj["kind"] == "Secret":
                made["data"] = {
                    "token": base64.b64encode(TOKEN.encode()).decode(),
                    "ca.crt": base64.b64encode(b"CA PEM").decode(),
                }
            self.objects[(obj["kind"].lower(), meta["namespace"], meta["name"])] = made
            return ok(json.dumps(made))
        if argv[:2] == ["rm", "-f"]:
            self.files.pop(argv[2], None)
            return ok()
        verb, kind, name = argv[3], argv[4], argv[5]
        namespace = argv[argv.index("-n") + 1]
        found = self.objects.get((kind, namespace, name))
        if verb == "get":
            if found is None:
                return CommandResult(tuple(argv), 1, "", f'{kind} "{name}" not found')
            if "jsonpath" in argv[-1]:
                key = argv[-1].split(".data.")[1].rstrip("}").replace("\\.", ".")
                return ok(found.get("data", {}).get(key, ""))
            return ok(json.dumps(found))
        if verb == "delete":
            self.objects.pop((kind, namespace, name), None)
            return ok()
        raise AssertionError(argv)


def a_run(master: Master, *, dry_run=False, mode=RunMode.APPLY, discovery=True):
    profile = changed(example_profile("local-haproxy"), "agent", enabled=True, discovery=discovery)
    events = []
    return SimpleNamespace(
        profile=profile,
        plan=registry.get("local-haproxy").plan(profile),
        options=SimpleNamespace(dry_run=dry_run),
        uninstall=mode is RunMode.UNINSTALL,
        cancel=threading.Event(),
        emit=events.append,
        open_for=SharedConnections(lambda name: lambda: master, 3),
        objects=[],
        events=events,
    )


class ClosedCounted(Master):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    @property
    def transport(self):
        return SimpleNamespace(close=lambda: setattr(self, "closed", self.closed + 1))


def test_the_agents_credentials_are_made_on_the_connection_the_preflight_kept_for_the_job():
    """No extra handshake: the master's connection kept by the auth preflight serves the API
    phase and is then still handed to the master's job (it was popped and closed before)."""
    master, opened = ClosedCounted(), []
    run = a_run(master)
    run.open_for = SharedConnections(lambda name: lambda: opened.append(name) or master, 3)
    first = run.profile.masters[0].name
    with run.open_for.lease(first):  # the auth preflight
        pass
    agent_access.access(run)
    assert run.open_for(first)() is master  # the master's job: the same connection
    assert opened == [first] and master.closed == 0 and run.open_for.reused == 1


def shown(run) -> str:
    """Every text the run showed: its events and its objects' previews."""
    return json.dumps([[e.message, list(e.lines)] for e in run.events] + run.objects)


def test_apply_makes_each_object_once_and_gives_every_node_the_token_root_only():
    master = Master()
    run = a_run(master)
    agent_access.access(run)
    assert sorted(k for k, _, _ in master.objects) == [
        "role",
        "rolebinding",
        "secret",
        "serviceaccount",
    ]
    record = json.loads(master.files[agent_access.RECORD])
    assert [e["kind"] for e in record] == ["serviceaccount", "role", "rolebinding", "secret"]
    assert all(e["uid"].startswith("uid-") for e in record)
    for node in run.plan.nodes:
        files = {f.path: f for f in node.files}
        token = files[node_agent.TOKEN_PATH]
        assert token.data == TOKEN.encode() and token.mode == 0o600 and token.secret
        assert files[node_agent.CA_PATH].data == b"CA PEM"
        assert node.files[0].path == node_agent.PYZ_PATH  # the preflight still first
    assert TOKEN not in shown(run)
    # a second apply creates nothing, reads the same token
    again = a_run(master)
    agent_access.access(again)
    assert len(master.objects) == 4 and master.uids == 4
    assert "present" in shown(again) and TOKEN not in shown(again)


def test_an_object_kubeha_did_not_make_is_refused_and_left_alone():
    master = Master()
    master.objects[("role", "default", "kubeha-agent")] = {
        "kind": "Role",
        "metadata": {"name": "kubeha-agent", "namespace": "default", "uid": "theirs"},
    }
    with pytest.raises(RunStopped, match="role default/kubeha-agent exists and kubeha did not"):
        agent_access.access(a_run(master))
    assert master.objects[("role", "default", "kubeha-agent")]["metadata"]["uid"] == "theirs"


def test_a_dry_run_creates_nothing_and_shows_the_token_redacted():
    master = Master()
    run = a_run(master, dry_run=True)
    agent_access.access(run)
    assert master.objects == {} and master.log == []
    assert "redacted" in shown(run) and "role default/kubeha-agent" in shown(run)
    token = {f.path: f for f in run.plan.nodes[0].files}[node_agent.TOKEN_PATH]
    node = SimpleNamespace(sha256=lambda path: None)
    _, _, diff = compare(node, "w1", token)
    assert diff == f"secret {node_agent.TOKEN_PATH}: new (redacted)\n"


def test_a_changed_token_diff_says_redacted_not_its_hash():
    token = node_agent.secret_file(node_agent.TOKEN_PATH, TOKEN.encode())
    node = SimpleNamespace(sha256=lambda path: "0" * 64)
    _, _, diff = compare(node, "w1", token)
    assert diff == f"secret {node_agent.TOKEN_PATH}: changed (redacted)\n"


def test_discovery_off_touches_no_master():
    master = Master()
    run = a_run(master, discovery=False)
    agent_access.access(run)
    assert master.log == []
    assert node_agent.TOKEN_PATH not in {f.path for f in run.plan.nodes[0].files}


def test_uninstall_lists_the_token_files_and_gives_back_only_kubehas_objects():
    master = Master()
    agent_access.access(a_run(master))
    # someone replaced the RoleBinding with their own since
    master.objects[("rolebinding", "default", "kubeha-agent")]["metadata"]["uid"] = "theirs"
    run = a_run(master, mode=RunMode.UNINSTALL)
    agent_access.access(run)
    assert node_agent.TOKEN_PATH in {f.path for f in run.plan.nodes[0].files}
    agent_access.give_back(run)
    assert list(master.objects) == [("rolebinding", "default", "kubeha-agent")]
    assert agent_access.RECORD not in master.files
    assert "not the one kubeha made, left alone" in shown(run)


def turned_off(master: Master, *results: NodeResult, selected: list[str] | None = None):
    """An apply after discovery was turned off: the nodes' results as ``results`` say."""
    run = a_run(master, discovery=False)
    everyone = [node.node for node in run.plan.nodes]
    run.selected = everyone if selected is None else selected
    run.results = {r.node: r for r in results}
    return run


def test_an_apply_with_discovery_off_gives_the_credentials_back_once_every_node_dropped_them():
    master = Master()
    agent_access.access(a_run(master))
    assert master.objects
    plan_nodes = [node.node for node in a_run(master).plan.nodes]
    # a re-apply that dropped nothing (discovery was already off): no master is asked
    master.log.clear()
    run = turned_off(master, *(NodeResult(n, NodeState.UNCHANGED, "") for n in plan_nodes))
    agent_access.give_back(run)
    assert master.log == [] and master.objects
    # one node rolled back: it may still run its agent with the token
    dropped = (node_agent.TOKEN_PATH, node_agent.CA_PATH)
    results = [NodeResult(n, NodeState.VERIFIED, "", changed_files=dropped) for n in plan_nodes]
    results[1] = NodeResult(plan_nodes[1], NodeState.ROLLED_BACK, "probe failed")
    run = turned_off(master, *results)
    agent_access.give_back(run)
    assert master.objects and "credentials stay in the cluster" in shown(run)
    assert plan_nodes[1] in shown(run)
    # --only: the nodes this run left alone may still use it
    run = turned_off(master, results[0], selected=[plan_nodes[0]])
    agent_access.give_back(run)
    assert master.objects and "left" in shown(run)
    # every node dropped its token: every object kubeha made goes, and the record
    results[1] = NodeResult(plan_nodes[1], NodeState.VERIFIED, "", changed_files=dropped)
    run = turned_off(master, *results)
    agent_access.give_back(run)
    assert master.objects == {} and agent_access.RECORD not in master.files
    assert "given back" in shown(run)
