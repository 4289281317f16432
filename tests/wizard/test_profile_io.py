"""Profiles in and out of TOML: exact round trips, and every bad input named precisely."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from tests.support.examples import EXAMPLES, changed, example_profile, section, with_tables
from wizard.errors import KubehaError
from wizard.problems import errors_in
from wizard.profile import Master, Profile
from wizard.profile_io import (
    MAX_PROFILE_BYTES,
    ProfileError,
    dump_profile,
    load_profile,
    parse_profile_text,
    save_profile,
    with_strategy,
)
from wizard.profile_save import write_profile
from wizard.strategies.ipvs import Ipvs
from wizard.validation import validate

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
    assert (
        section(profile, "local_nginx").listen_address,
        section(profile, "local_nginx").listen_port,
    ) == (
        "127.0.0.1",
        8443,
    )
    assert profile.health_check.path == "/readyz"
    assert section(profile, "ipvs").vip == "10.103.97.2"
    assert section(profile, "install").method == "package"


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


# --- issue 12: files that are not profiles, nesting, escaping ---------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(KubehaError, match=r"p\.toml: is a named pipe \(FIFO\), not a regular file"):
        load_profile(fifo)
    assert time.monotonic() - started < 5


def test_a_device_is_refused():
    with pytest.raises(KubehaError, match="/dev/zero: is a character device, not a regular"):
        load_profile("/dev/zero")


def test_a_profile_larger_than_the_cap_is_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(MINIMAL + "# " + "x" * MAX_PROFILE_BYTES + "\n")
    with pytest.raises(KubehaError, match=r"big\.toml: larger than 1024 KiB, expected a profile"):
        load_profile(big)
    fits = tmp_path / "fits.toml"
    fits.write_text(MINIMAL + "#" * (MAX_PROFILE_BYTES - len(MINIMAL) - 1) + "\n")
    assert load_profile(fits).name == "p"


def test_crlf_and_cr_line_ends_read_as_before(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(MINIMAL.replace("\n", "\r\n").encode())
    assert load_profile(path).name == "p"


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{a = " * 3000 + "1" + "}" * 3000,
        MINIMAL + "y = " + "[" * 100_000,
    ],
    ids=["arrays", "inline-tables", "unclosed"],
)
def test_deep_nesting_is_a_problem_not_a_traceback(text, tmp_path):
    result = parse_profile_text(text, "deep.toml")
    assert result.profile is None
    assert "nested too deeply" in str(result.problems[0]) or "not valid TOML" in str(
        result.problems[0]
    )
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert "deep.toml" in str(caught.value)


def test_nesting_the_parser_reads_is_shown_cut_short():
    depth = 200
    result = parse_profile_text("x = " + "[" * depth + "]" * depth + "\n" + MINIMAL)
    [problem] = result.problems
    assert problem.field == "x" and len(str(problem)) < 300


def test_a_number_with_too_many_digits_is_a_problem():
    [problem] = parse_profile_text("x = " + "9" * 5000 + "\n" + MINIMAL).problems
    assert "too many digits" in problem.expected


def test_control_characters_in_keys_and_values_are_escaped():
    text = MINIMAL + '"evil\\u001b[2J\\r" = "a\\u001b]0;x\\u0007b"\n'
    result = parse_profile_text(text, "p\x1b.toml")
    [problem] = result.problems
    shown = str(problem)
    assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown
    assert "evil\\x1b[2J\\r" in shown and "a\\x1b]0;x\\x07b" in shown
    message = str(ProfileError("p\x1b.toml", result.problems))
    assert "\x1b" not in message and "p\\x1b.toml" in message


def test_escaping_covers_bidi_and_other_invisible_characters():
    [problem] = parse_profile_text(MINIMAL + '"a\\u202eb" = 1\n').problems
    assert "\u202e" not in str(problem) and "a\\u202eb" in str(problem)


def test_a_saved_profile_that_is_not_a_file_is_refused_by_name():
    from wizard.paths import user_profiles_dir

    folder = user_profiles_dir()
    folder.mkdir(parents=True)
    os.mkfifo(folder / "local-nginx.toml")  # shadows the example of that name
    with pytest.raises(KubehaError, match=r"local-nginx\.toml: is a named pipe"):
        load_profile("local-nginx")


@pytest.mark.parametrize("name", ["x" * 5000, "a\x00b"])
def test_unusable_names_are_errors(name):
    with pytest.raises(KubehaError):
        load_profile(name)


# --- a profile holds its strategy's tables only: the others are set aside --------------------

V1_EVERY_TABLE = (
    MINIMAL
    + """
[local_nginx]
listen_port = 8443

[haproxy_keepalived]
vip = ""

[ipvs]
# mine, from when this cluster ran IPVS
vip = "10.103.97.2"
scheduler = "\\u001b[31mwrr"

[local_haproxy]

[install]
method = "package"
"""
)


def test_a_v1_profile_with_every_strategys_tables_sets_aside_what_says_something():
    """kubeha up to this version wrote every strategy's tables into every profile: those at
    their defaults say nothing and are dropped, the others are set aside as written."""
    profile = parse_profile_text(V1_EVERY_TABLE).profile
    assert profile is not None and profile.strategy == "local-nginx"
    assert set(profile.tables) == set()  # local-nginx's own, at their defaults
    assert dict(profile.set_aside) == {"ipvs": {"vip": "10.103.97.2", "scheduler": "\x1b[31mwrr"}}
    [said] = [p for p in validate(profile) if p.field == "ipvs"]
    assert not said.is_error and "set aside" in said.expected and "ipvs" in said.expected
    assert "\x1b" not in str(said) and "\\x1b[31mwrr" in str(said)  # the note is escaped
    assert errors_in(validate(profile)) == []


def test_set_aside_tables_are_written_back_as_they_were(tmp_path):
    profile = parse_profile_text(V1_EVERY_TABLE).profile
    assert profile is not None
    again = parse_profile_text(dump_profile(profile)).profile  # a new file: written at the end
    assert again == profile and dump_profile(profile).rstrip().endswith(
        'scheduler = "\\u001b[31mwrr"'
    )
    path = tmp_path / "old.toml"
    path.write_text(V1_EVERY_TABLE)
    write_profile(dataclasses.replace(profile, name="renamed"), path)  # over the file: in place
    text = path.read_text()
    assert "# mine, from when this cluster ran IPVS" in text and 'vip = "10.103.97.2"' in text
    assert "[haproxy_keepalived]" not in text and "[local_haproxy]" not in text  # said nothing
    assert "[install]" in text  # local-nginx's own
    assert load_profile(path) == dataclasses.replace(profile, name="renamed")


def test_choosing_the_set_aside_strategy_uses_its_table_and_leaving_it_sets_it_aside_again():
    profile = parse_profile_text(V1_EVERY_TABLE).profile
    assert profile is not None
    stash: dict[str, object] = {}
    ipvs = with_strategy(profile, "ipvs", stash, profile.set_aside)
    assert section(ipvs, "ipvs").vip == "10.103.97.2" and not ipvs.set_aside
    back = with_strategy(ipvs, "local-nginx", stash, profile.set_aside)
    assert back == profile  # as the file wrote it, byte for byte when saved
    edited = changed(ipvs, "ipvs", vip="10.103.97.3")
    assert with_strategy(edited, "local-nginx", stash, profile.set_aside).set_aside["ipvs"] == {
        "apiserver_hostname": "apiserver.cluster.local",
        "port": 6443,
        "scheduler": "\x1b[31mwrr",
        "vip": "10.103.97.3",
    }


def test_a_table_of_another_strategy_held_as_the_chosen_ones_is_refused():
    """Only code can build it (a file's are set aside): it is an error, never ignored."""
    profile = with_tables(example_profile("local-nginx"), ipvs=Ipvs(vip="192.0.2.97"))
    [bad] = [p for p in validate(profile) if p.field == "ipvs"]
    assert bad.is_error and "not a table of strategy local-nginx" in bad.expected
