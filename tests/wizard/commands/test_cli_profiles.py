"""``kubeha validate`` and ``kubeha render`` as an operator runs them: exit codes and messages,
never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wizard.cli import main
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.strategies import registry


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("strategy", registry.names())
def test_validate_examples(strategy, capsys):
    assert main(["validate", str(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_lists_every_problem(write_toml, capsys):
    path = write_toml(
        'name = "bad name"\nstrategy = "local-nginx"\n'
        '[[masters]]\nname = "m1"\naddress = "10.0.0.300"\n'
        '[[masters]]\nname = "m1"\naddress = "10.0.0.2"\n'
        "[local_nginx]\nlisten_port = 6443\n"
    )
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    for text in (
        "name: 'bad name'",
        "masters[0].address: '10.0.0.300'",
        "masters[1].name: 'm1'",
        "local_nginx.listen_port: 6443",
        "4 error(s)",
    ):
        assert text in err


@pytest.mark.parametrize(
    ("content", "message", "code"),
    [
        ("[[masters]\n", "not valid TOML", 2),  # cannot be read: 2; read but not a profile: 1
        (
            'name = "x"\nstrategy = "ipvs"\nmasters = 3\n',
            "masters: 3: expected an array of tables",
            1,
        ),
        (
            'name = "x"\nstrategy = "ipvs"\n[[masters]]\nname="m"\naddress="10.0.0.1"\nport=1\n',
            "masters[0].port: 1: unknown key",
            1,
        ),
    ],
)
def test_bad_files_exit_non_zero_without_traceback(write_toml, content, message, code):
    result = run("validate", str(write_toml(content)))
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_and_folder(tmp_path):
    for target, message in (
        (tmp_path / "nope.toml", "no such profile file"),
        (tmp_path, "is a folder"),
    ):
        result = run("validate", str(target))
        assert (
            result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
        )


def test_render_writes_one_folder_per_node(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["render", str(EXAMPLE_PROFILES_DIR / "haproxy-keepalived.toml"), "--out", str(out)])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        ".kubeha-render.json",  # what the render wrote: a later render replaces only that
        "_cluster",
        "master1",
        "master2",
        "master3",
        "worker1",
    ]
    assert (out / "master1/etc/keepalived/keepalived.conf").is_file()
    assert (
        oct((out / "master1/etc/keepalived/check_apiserver.sh").stat().st_mode & 0o777) == "0o700"
    )
    assert "https://192.0.2.100:8443" in (out / "_cluster/kubeconfig-server.txt").read_text()
    # Rendering again replaces what the last render wrote: nothing of haproxy's is left.
    assert main(["render", str(EXAMPLE_PROFILES_DIR / "local-nginx.toml"), "--out", str(out)]) == 0
    assert not (out / "master1/etc/keepalived").exists()


def test_render_refuses_an_invalid_profile(write_toml, tmp_path):
    path = write_toml(
        'name = "x"\nstrategy = "local-nginx"\n[[masters]]\nname = "m1"\naddress = "a b"\n'
    )
    result = run("render", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "masters[0].address" in result.stderr
    assert not (tmp_path / "out").exists()


def test_usage_errors():
    result = run("render", "x.toml")
    assert result.returncode == 2 and "--out" in result.stderr
    assert run("--version").stdout.startswith("kubeha ")


def test_help_loads_neither_the_engine_nor_textual() -> None:
    """`kubeha --help` and every parser build stay fast: fabric, paramiko and textual load only
    when a command runs."""
    code = (
        "import sys, wizard.cli as c; c.build_parser(); "
        "print(' '.join(m for m in ('fabric', 'paramiko', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_verify_command_kinds_match_the_drill() -> None:
    from wizard.commands.verify_command import KINDS
    from wizard.engine.drill_run import KINDS as DRILL_KINDS

    assert KINDS == DRILL_KINDS
