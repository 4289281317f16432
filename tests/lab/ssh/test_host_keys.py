"""Host keys on real nodes: a new key is refused headless unless --trust-new-host-keys, then
pinned in kubeha's own known_hosts (0600) and accepted without the flag; the wizard's confirm
callback sees the fingerprint; a changed key is refused, naming both fingerprints, even with the
flag. Through the bastion, its own key is checked the same way (never fabric's AutoAdd)."""

from __future__ import annotations

import pytest

from tests.support.labkit import lab_profile, with_section
from tests.support.sshkit import apply, fingerprint_of, reasons, states
from wizard.cli import main
from wizard.engine.events import Status
from wizard.engine.model import Secrets
from wizard.lab import bastion, hostkey
from wizard.paths import known_hosts_file
from wizard.profile_io import save_profile

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("clean_lab")]


def lab_key_fingerprint(name: str) -> str:
    return fingerprint_of(bastion.node_host_key_line(name))


def test_new_keys_refused_headless_then_trusted_pinned_and_accepted(lab, tmp_path, capfd):
    # the lab profile, minus its known_hosts: every key is new to this HOME and state folder
    profile = with_section(lab_profile(lab, "local-nginx"), "ssh", known_hosts=None)
    path = save_profile(profile, tmp_path / "new-keys.toml")
    assert main(["apply", str(path), "--dry-run"]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    for n in lab.nodes:
        line = f"host key for [127.0.0.1]:{n.ssh_port} is not known (ssh-ed25519 {lab_key_fingerprint(n.name)})"
        assert line in out, out
    assert "--trust-new-host-keys" in out
    assert not known_hosts_file().exists()

    assert main(["apply", str(path), "--dry-run", "--trust-new-host-keys"]) == 0
    out = capfd.readouterr().out
    for n in lab.nodes:  # every key pinned is on record
        assert (
            f"[127.0.0.1]:{n.ssh_port}: new host key ssh-ed25519 {lab_key_fingerprint(n.name)} "
            "trusted and pinned"
        ) in out
    pinned = known_hosts_file()
    assert pinned.stat().st_mode & 0o777 == 0o600
    lines = pinned.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(
        f"[127.0.0.1]:{n.ssh_port}" for n in lab.nodes
    )
    for n in lab.nodes:
        assert bastion.node_host_key_line(n.name).split()[1] in pinned.read_text()

    assert main(["apply", str(path), "--dry-run"]) == 0  # pinned: no flag needed any more
    assert pinned.read_text().splitlines() == lines  # and nothing pinned twice


def test_the_wizard_confirmation_sees_the_fingerprint_and_pins_what_it_accepts(lab):
    profile = with_section(lab_profile(lab, "local-nginx"), "ssh", known_hosts=None)
    asked: dict[str, str] = {}

    def confirm(host: str, fp: str) -> bool:
        asked[host] = fp
        return host != "[127.0.0.1]:2222"  # the operator says no to w2

    summary, recorder = apply(profile, dry_run=True, confirm_host_key=confirm)
    assert asked == {f"[127.0.0.1]:{n.ssh_port}": lab_key_fingerprint(n.name) for n in lab.nodes}
    asking = {e.node: e.message for e in recorder.events if e.status is Status.HOSTKEY}
    for n in lab.nodes:  # the node's own pane shows the host and the fingerprint it asks about
        assert asking[n.name] == (
            f"[127.0.0.1]:{n.ssh_port} offers a host key not seen before: "
            f"{lab_key_fingerprint(n.name)}; trust it?"
        )
    assert "refused by the operator" in " ".join(
        e.message for e in recorder.events if e.node == "w2"
    )
    assert states(summary)["w2"] == "untouched"
    assert "is not known" in reasons(summary)["w2"]
    assert {s for n, s in states(summary).items() if n != "w2"} == {"planned"}
    assert "[127.0.0.1]:2222" not in known_hosts_file().read_text()


def test_the_bastion_key_is_checked_too(access):
    """Nothing known: the jump host's key is refused first, and every node says so at once."""
    profile = access.profile(known_hosts=None)
    summary, recorder = apply(profile, Secrets(sudo_password=access.password), dry_run=True)
    assert set(states(summary).values()) == {"untouched"}
    fp = fingerprint_of(bastion.host_key_line())
    for reason in reasons(summary).values():
        assert f"host key for [127.0.0.1]:{bastion.PORT} is not known (ssh-ed25519 {fp})" in reason
    summary, recorder = apply(
        profile, Secrets(sudo_password=access.password), dry_run=True, trust_new_host_keys=True
    )
    assert summary.ok, recorder.text()
    pinned = known_hosts_file().read_text()
    assert f"[127.0.0.1]:{bastion.PORT} " in pinned
    for n in access.lab.nodes:
        assert f"{n.address} ssh-ed25519 " in pinned  # nodes by the name the bastion reaches


def test_a_changed_key_is_refused_naming_both_fingerprints(lab, tmp_path, capfd):
    profile = lab_profile(lab, "local-nginx")  # the lab's known_hosts: w1's old key
    path = save_profile(profile, tmp_path / "changed.toml")
    old = lab_key_fingerprint("w1")
    new = fingerprint_of(hostkey.change("w1"))
    try:
        assert old != new
        for flags in ([], ["--trust-new-host-keys"]):  # never pinned over, even with the flag
            assert main(["apply", str(path), "--dry-run", *flags]) == 1
            out, err = capfd.readouterr()
            assert "Traceback" not in out + err
            w1 = lab.node("w1")
            text = " ".join(out.split())
            assert f"host key for [127.0.0.1]:{w1.ssh_port} has CHANGED" in text, out
            assert f"known ssh-ed25519 {old}" in text and f"offered ssh-ed25519 {new}" in text
            assert "ssh-keygen -R" in text and str(lab.known_hosts) in text
            assert "4/5 node(s) ok" in out
        assert not known_hosts_file().exists() or new not in known_hosts_file().read_text()
    finally:
        hostkey.restore("w1")
    assert main(["apply", str(path), "--dry-run"]) == 0
