"""wizard.profile_save: an edited profile written back over its file keeps the file's comments,
layout and mode, and always reads back as exactly the profile that was saved."""

from __future__ import annotations

import dataclasses
import os

import pytest

from tests.support.examples import section
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Master, Node, SshTarget
from wizard.profile_io import dump_profile, load_profile, parse_profile_text
from wizard.profile_save import update_text, write_profile
from wizard.strategies import registry

EXAMPLE = EXAMPLE_PROFILES_DIR / "local-nginx.toml"


def _text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def _profile():
    return load_profile(EXAMPLE)


def _comments(text: str) -> list[str]:
    return [line.partition("#")[2] for line in text.splitlines() if "#" in line]


@pytest.mark.parametrize("strategy", registry.names())
def test_unchanged_profile_leaves_the_text_byte_for_byte(strategy) -> None:
    path = EXAMPLE_PROFILES_DIR / f"{strategy}.toml"
    assert update_text(path.read_text(encoding="utf-8"), load_profile(path)) == path.read_text()


def test_a_changed_value_is_the_only_changed_line() -> None:
    profile = _profile()
    edited = dataclasses.replace(
        profile,
        tables={
            **profile.tables,
            "local_nginx": dataclasses.replace(section(profile, "local_nginx"), listen_port=9443),
        },
    )
    updated = update_text(_text(), edited)
    assert updated is not None
    before, after = _text().splitlines(), updated.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1].startswith("listen_port = 9443") and "# must differ" in changed[0][1]


def test_comments_survive_added_removed_and_renamed_nodes() -> None:
    profile = _profile()
    workers = (
        dataclasses.replace(profile.workers[1], ssh=SshTarget(port=2200)),
        Node("worker3", "192.0.2.23", ssh=SshTarget(user="ops")),
    )
    edited = dataclasses.replace(profile, name="renamed", workers=workers)
    updated = update_text(_text(), edited)
    assert updated is not None
    assert parse_profile_text(updated).profile == edited
    assert _comments(updated) == _comments(_text())
    assert "worker1" not in updated
    assert 'ssh = {user = "ops"}' in updated  # a new node's override stays inline


def test_a_default_the_file_leaves_out_stays_out() -> None:
    text = 'schema_version = 1\nname = "x"\nstrategy = "local-nginx"\n\n# mine\n[[masters]]\nname = "m1"\naddress = "10.0.0.1"\n'
    profile = parse_profile_text(text).profile
    assert profile is not None
    masters = (*profile.masters, Master("m2", "10.0.0.2"))
    edited = dataclasses.replace(profile, masters=masters)
    updated = update_text(text, edited)
    assert updated is not None
    assert updated.startswith(text)  # nothing above is touched, no defaults are spelled out
    assert "health_check" not in updated and "listen_port" not in updated
    assert parse_profile_text(updated).profile == edited


def test_strategy_switch_adds_its_section_and_drops_the_old_one() -> None:
    profile = _profile()
    ipvs = load_profile(EXAMPLE_PROFILES_DIR / "ipvs.toml")
    edited = dataclasses.replace(profile, strategy="ipvs", tables={"ipvs": section(ipvs, "ipvs")})
    updated = update_text(_text(), edited)
    assert updated is not None and "[ipvs]" in updated
    assert "[local_nginx]" not in updated and "listen_port" not in updated
    assert "[install]" not in updated
    assert parse_profile_text(updated).profile == edited
    kept = [
        c
        for c in _comments(_text())
        if c not in _comments(_section(_text(), "local_nginx"))
        and c not in _comments(_section(_text(), "install"))
    ]
    assert _comments(updated) == kept


def _section(text: str, name: str) -> str:
    """The lines of ``[name]``, up to the next table."""
    lines = text.splitlines()
    start = lines.index(f"[{name}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("strategy", registry.names())
def test_a_new_file_holds_only_the_chosen_strategys_tables(strategy, tmp_path) -> None:
    chosen = registry.get(strategy)
    example = load_profile(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")
    profile = dataclasses.replace(_profile(), strategy=strategy, tables=example.tables)
    text = dump_profile(profile)
    for name in registry.tables():
        assert (f"[{name}]" in text) == (name in chosen.owned_tables())
    path = write_profile(profile, tmp_path / "p.toml")
    assert load_profile(path) == profile


def test_text_that_is_not_a_profile_is_not_edited() -> None:
    assert update_text("not = [toml", _profile()) is None
    assert update_text('schema_version = 1\nname = "x"\n', _profile()) is None


def test_write_keeps_mode_and_comments_and_leaves_no_temp_file(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(_text())
    os.chmod(path, 0o600)
    edited = dataclasses.replace(_profile(), name="mine")
    assert write_profile(edited, path) == path
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert _comments(path.read_text()) == _comments(_text())
    assert load_profile(path) == edited
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]


def test_a_new_file_is_written_with_tomli_w(tmp_path) -> None:
    path = tmp_path / "sub" / "new.toml"
    write_profile(_profile(), path)
    assert path.read_text() == dump_profile(_profile())
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_without_keep_layout_the_file_is_replaced(tmp_path) -> None:
    path = tmp_path / "other.toml"
    path.write_text(_text())
    write_profile(_profile(), path, keep_layout=False)
    assert path.read_text() == dump_profile(_profile())
