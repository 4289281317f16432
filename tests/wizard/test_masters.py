"""Master operations on a profile (wizard.masters) and ``kubeha masters``'s refusals: names and
addresses unique, never the last master removed, every bad value named, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wizard.masters import MasterChangeError, add_master, remove_master, replace_master
from wizard.profile import MAX_MASTERS, Master
from wizard.profile_io import load_profile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "profiles" / "local-haproxy.toml"


@pytest.fixture
def profile():
    return load_profile(EXAMPLE)


def test_add_remove_replace(profile):
    added, what = add_master(profile, Master("master4", "192.0.2.14"))
    assert [m.name for m in added.masters] == ["master1", "master2", "master3", "master4"]
    assert what == "add master master4 (192.0.2.14:6443)"
    removed, _ = remove_master(added, "master1")
    assert [m.name for m in removed.masters] == ["master2", "master3", "master4"]
    replaced, what = replace_master(removed, "master2", Master("master5", "192.0.2.15", 6444))
    assert [(m.name, m.apiserver_port) for m in replaced.masters] == [
        ("master5", 6444),
        ("master3", 6443),
        ("master4", 6443),
    ]
    assert replaced.workers == profile.workers


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: add_master(p, Master("worker1", "192.0.2.99")), "--name: 'worker1'"),
        (lambda p: add_master(p, Master("m9", "192.0.2.21")), "--address: '192.0.2.21'"),
        (lambda p: remove_master(p, "nope"), "--master: 'nope': expected one of master1"),
        (lambda p: replace_master(p, "master1", Master("m9", "192.0.2.12")), "--address"),
    ],
)
def test_a_change_the_profile_cannot_take_is_named(profile, call, message):
    with pytest.raises(MasterChangeError) as error:
        call(profile)
    assert message in str(error.value)


def test_replacing_a_master_by_itself_at_a_new_port_is_allowed(profile):
    same, _ = replace_master(profile, "master1", Master("master1", "192.0.2.11", 7443))
    assert same.masters[0].apiserver_port == 7443


def test_the_last_master_is_never_removed(profile):
    one = remove_master(remove_master(profile, "master1")[0], "master2")[0]
    with pytest.raises(MasterChangeError, match="the only master"):
        remove_master(one, "master3")


def test_no_more_than_the_cap(profile):
    grown = profile
    for i in range(4, MAX_MASTERS + 1):
        grown, _ = add_master(grown, Master(f"master{i}", f"198.51.100.{i}"))
    with pytest.raises(MasterChangeError, match=f"expected at most {MAX_MASTERS}"):
        add_master(grown, Master("one-more", "198.51.100.200"))


def kubeha(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_command_refuses_example_addresses_before_any_connection(tmp_path):
    copy = tmp_path / "p.toml"
    copy.write_text(EXAMPLE.read_text())
    done = kubeha(
        "masters", "add", str(copy), "--name", "master4", "--address", "192.0.2.14", "--dry-run"
    )
    assert done.returncode == 2 and "refusing to connect" in done.stderr
    assert copy.read_text() == EXAMPLE.read_text()


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["remove", "--master", "nope"], 2, "--master: 'nope'"),
        (["add", "--name", "m4", "--address", "not an address"], 1, "masters[3].address"),
        (["add", "--name", "m4", "--address", "10.0.0.4", "--port", "0"], 2, "--port"),
        (["add", "--name", "m4"], 2, "--address"),
    ],
)
def test_bad_input_exits_non_zero_naming_it(tmp_path, args, code, text):
    copy = tmp_path / "p.toml"
    copy.write_text(EXAMPLE.read_text())
    done = kubeha("masters", args[0], str(copy), *args[1:], "--dry-run")
    assert done.returncode == code, done.stderr
    assert text in done.stderr and "Traceback" not in done.stderr
    assert copy.read_text() == EXAMPLE.read_text()
