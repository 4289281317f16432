"""What a node answers reaches the operator's terminal escaped, on every print path of the CLI:
the run's events, dry-run diffs, the summary, a node lock's record, verify's table. A hostile
fake node answers with screen clears, a window title, CR, C1 controls, a bidi override and a
newline that would start a forged line; every character printed is printable (or the newline
that ends a line kubeha wrote), and the forged line never starts a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_node import FakeCluster
from wizard.cli import main
from wizard.engine.remote import NODE_LOCK
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.terminal import EscapingStream, escaped

FORGED = "ok m9 verified"
HOSTILE = f"\x1b[2J\x1b[H\x1b]0;owned\x07\rclean\x9b31m\u202eevil\x08\x7f\x00\n{FORGED}"


def _clean(text: str) -> None:
    bad = sorted({c for c in text if not (c.isprintable() or c == "\n")})
    assert not bad, f"raw control characters on the terminal: {bad!r}"
    assert not any(line.startswith(FORGED) for line in text.splitlines()), text


@pytest.fixture
def profile(tmp_path) -> Path:
    path = tmp_path / "mine.toml"
    text = (EXAMPLE_PROFILES_DIR / "local-nginx.toml").read_text()
    path.write_text(text.replace("192.0.2.", "10.0.0."))
    return path


@pytest.fixture
def cluster(monkeypatch, profile):
    """The CLI's runs go to fake nodes (no connection) and ask for no secret."""
    import wizard.engine.apply as engine_apply
    import wizard.engine.secrets_input
    from wizard.engine.model import Secrets
    from wizard.profile_io import load_profile

    names = [n.name for n in load_profile(profile).all_nodes()]
    fake = FakeCluster(names)
    real_apply, real_uninstall = engine_apply.run_apply, engine_apply.run_uninstall
    monkeypatch.setattr(
        engine_apply, "run_apply", lambda *a, **k: real_apply(*a, **k, connector=fake)
    )
    monkeypatch.setattr(
        engine_apply, "run_uninstall", lambda *a, **k: real_uninstall(*a, **k, connector=fake)
    )
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    return fake


def _run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_stream_escapes_all_but_the_newline_that_ends_a_line():
    assert escaped("a\x1b[2Jb\r\n\u202ec\n") == "a\\x1b[2Jb\\r\n\\u202ec\n"
    assert escaped("plain ✓ text\n") == "plain ✓ text\n"


def test_events_of_a_failing_node_are_escaped(profile, cluster, capsys):
    for node in cluster.nodes.values():
        node.output = HOSTILE
        node.reject_marker = "upstream"  # its config check fails and prints the node's text
    code, out = _run(["apply", profile, "--yes", "--concurrency", "1"], capsys)
    assert code == 1
    assert "\\x1b[2J" in out  # shown, escaped
    _clean(out)


def test_dry_run_diffs_are_escaped(profile, cluster, capsys):
    for node in cluster.nodes.values():
        node.files["/etc/hosts"] = HOSTILE + "\n"
        node.files["/etc/kube-nginx/kube-nginx.conf"] = HOSTILE + "\n"
    code, out = _run(["apply", profile, "--dry-run"], capsys)
    assert code == 0
    assert "would" in out and "\\x1b" in out, out
    _clean(out)


def test_a_node_locks_record_is_escaped(profile, cluster, capsys):
    record = {"run_id": HOSTILE, "profile": HOSTILE, "host": HOSTILE, "pid": 1, "started": 1e300}
    for node in cluster.nodes.values():
        node.locks[NODE_LOCK] = json.dumps(record)
    code, out = _run(["apply", profile, "--yes"], capsys)
    assert code == 1 and "locked by another kubeha run" in out, out
    _clean(out)
    node = next(iter(cluster.nodes.values()))
    node.locks[NODE_LOCK] = HOSTILE  # not even a record
    code, out = _run(["uninstall", profile, "--yes"], capsys)
    assert code == 1
    _clean(out)


def test_verify_table_is_escaped(profile, monkeypatch, capsys):
    import wizard.engine.secrets_input
    import wizard.engine.verify
    from wizard.engine.model import Secrets
    from wizard.engine.verify import NodeCheck, VerifyReport

    check = NodeCheck(
        "m1",
        "https://10.0.0.1:8443/readyz",
        False,
        HOSTILE,
        0.1,
        HOSTILE,
        HOSTILE,
        ipvs_table=(HOSTILE,),
    )
    report = VerifyReport("mine", "local-nginx", (check,), problems=(HOSTILE,))
    monkeypatch.setattr(wizard.engine.secrets_input, "collect", lambda *a, **k: Secrets())
    monkeypatch.setattr(wizard.engine.verify, "run_verify", lambda *a, **k: report)
    code, out = _run(["verify", profile], capsys)
    assert code == 1 and "\\x1b" in out
    _clean(out)


def test_an_error_message_is_escaped(profile, cluster, monkeypatch, capsys):
    import wizard.engine.apply as engine_apply
    from wizard.errors import CheckFailed

    def fails(*a, **k):
        raise CheckFailed(f"the node said: {HOSTILE}")

    monkeypatch.setattr(engine_apply, "run_apply", fails)
    code, out = _run(["apply", profile, "--yes"], capsys)
    assert code == 1 and "\\x1b" in out
    assert not any(c for c in out if not (c.isprintable() or c == "\n"))


def test_the_stream_passes_through_what_it_wraps(tmp_path):
    with open(tmp_path / "f", "w", encoding="utf-8") as handle:
        stream = EscapingStream(handle)
        assert stream.fileno() == handle.fileno() and not stream.isatty()
        print("a\x1bb", file=stream)
    assert (tmp_path / "f").read_text() == "a\\x1bb\n"


def test_a_nodes_facts_are_escaped(profile, cluster, capsys):
    from wizard.engine.transport import CommandResult

    for node in cluster.nodes.values():
        real_sh = node.sh

        def sh(script, timeout=120, real_sh=real_sh):
            done = real_sh(script, timeout)
            if "os-release" in script:  # the node names its OS and init as it likes
                hostile = HOSTILE.replace("\n", "\\n")
                text = done.stdout.replace("os=debian", f"os=debian{hostile}")
                text = text.replace("init=systemd", f"init=systemd{hostile}")
                return CommandResult(done.argv, 0, text, "")
            return done

        node.sh = sh
    code, out = _run(["apply", profile, "--dry-run"], capsys)
    assert code == 1  # the node does not run systemd as it says it does
    assert "found systemd\\x1b[2J" in out, out
    _clean(out)
