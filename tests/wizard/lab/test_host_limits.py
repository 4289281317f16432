"""The lab's one host setting: raised only when a lab needs more inotify instances, the value
found put back by down (on files standing in for /proc)."""

from __future__ import annotations

from wizard.lab import host_limits


def test_raised_only_when_needed_and_put_back(tmp_path, monkeypatch):
    setting, saved = tmp_path / "max_user_instances", tmp_path / "orig"
    monkeypatch.setattr(host_limits, "SETTING", setting)
    monkeypatch.setattr(host_limits, "SAVED", saved)
    logged: list[str] = []
    setting.write_text("128\n")
    host_limits.raise_for(5, logged.append)  # the usual lab: 32 + 8 x 5 = 72, nothing to do
    assert setting.read_text() == "128\n" and not saved.exists()
    host_limits.raise_for(30, logged.append)  # 32 + 8 x 30 = 272 > 128: raised
    assert setting.read_text() == "272\n" and saved.read_text() == "128\n"
    host_limits.raise_for(60, logged.append)  # raised again, the value first found kept
    assert setting.read_text() == "512\n" and saved.read_text() == "128\n"
    host_limits.restore(logged.append)
    assert setting.read_text() == "128\n" and not saved.exists()
    setting.write_text("100000\n")
    host_limits.raise_for(60, logged.append)  # already enough: untouched, nothing to restore
    assert setting.read_text() == "100000\n" and not saved.exists()
    host_limits.restore(logged.append)
    assert setting.read_text() == "100000\n"
