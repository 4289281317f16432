"""Profiles in and out of TOML: exact round trips, and every bad input named precisely."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import EXAMPLES, example_profile
from wizard.errors import KubehaError
from wizard.profile import Master, Profile
from wizard.profile_io import (
    ProfileError,
    dump_profile,
    load_profile,
    parse_profile_text,
    save_profile,
)

MINIMAL = """
schema_version = 1
name = "p"
strategy = "local-nginx"
[[masters]]
name = "m1"
address = "10.0.0.11"
"""


@pytest.mark.parametrize("strategy", EXAMPLES)
def test_example_profiles_round_trip_exactly(strategy, tmp_path):
    profile = example_profile(strategy)
    path = save_profile(profile, tmp_path / "p.toml")
    again = load_profile(path)
    assert again == profile
    assert dump_profile(again) == path.read_text()


def test_round_trip_keeps_overrides_and_optional_fields(tmp_path):
    profile = parse_profile_text(MINIMAL).profile
    profile = dataclasses.replace(
        profile,
        masters=(
            Master(
                "m1",
                "fd00::11",
                6444,
                ssh=dataclasses.replace(profile.masters[0].ssh, host="127.0.0.1", port=2211),
            ),
        ),
        ssh=dataclasses.replace(profile.ssh, bastion="ops@jump.example:2222", sudo=True),
    )
    assert load_profile(save_profile(profile, tmp_path / "p.toml")) == profile


def test_defaults_fill_what_is_absent():
    profile = parse_profile_text(MINIMAL).profile
    assert isinstance(profile, Profile)
    assert profile.masters[0].apiserver_port == 6443
    assert (profile.local_nginx.listen_address, profile.local_nginx.listen_port) == (
        "127.0.0.1",
        8443,
    )
    assert profile.health_check.path == "/readyz"
    assert profile.ipvs.vip == "10.103.97.2"
    assert profile.install.method == "package"


def test_unknown_key_is_named():
    result = parse_profile_text(MINIMAL + "\n[local_nginx]\nlisten_prot = 1\n")
    assert result.profile is None
    [problem] = result.problems
    assert problem.field == "local_nginx.listen_prot"
    assert "unknown key" in problem.expected and "listen_port" in problem.expected


def test_wrong_types_are_all_reported_with_their_paths():
    text = MINIMAL.replace('address = "10.0.0.11"', 'address = 11\napiserver_port = "6443"')
    text += '\n[ssh]\nsudo = "yes"\n[health_check]\nfall = 1.5\n'
    result = parse_profile_text(text)
    fields = {p.field: p.expected for p in result.problems}
    assert fields == {
        "masters[0].address": "expected a string",
        "masters[0].apiserver_port": "expected an integer",
        "ssh.sudo": "expected true or false",
        "health_check.fall": "expected an integer",
    }


def test_missing_required_and_wrong_schema_version():
    assert {p.field for p in parse_profile_text('strategy = "ipvs"').problems} == {
        "name",
        "masters",
    }
    [problem] = parse_profile_text(
        "schema_version = 7\n" + MINIMAL.replace("schema_version = 1", "")
    ).problems
    assert problem.field == "schema_version" and problem.value == 7


def test_broken_toml_is_a_problem_not_an_exception():
    result = parse_profile_text('name = "x\n', "bad.toml")
    assert result.profile is None
    assert "not valid TOML" in result.problems[0].expected


def test_no_secret_fields_exist():
    from wizard.profile import Ssh

    names = {f.name for f in dataclasses.fields(Ssh)}
    assert not names & {"password", "passphrase", "sudo_password", "become_password"}
    result = parse_profile_text(MINIMAL + '\n[ssh]\npassword = "hunter2"\n')
    assert result.profile is None and result.problems[0].field == "ssh.password"


def test_load_errors_are_kubeha_errors(tmp_path):
    with pytest.raises(KubehaError, match="no such profile file"):
        load_profile(tmp_path / "absent.toml")
    with pytest.raises(KubehaError, match="is a folder"):
        load_profile(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KubehaError, match="not UTF-8"):
        load_profile(tmp_path / "bin.toml")
    (tmp_path / "bad.toml").write_text("[[masters]\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(tmp_path / "bad.toml")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    profile = parse_profile_text(MINIMAL).profile
    save_profile(profile, tmp_path / "a" / "p.toml")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["p.toml"]
