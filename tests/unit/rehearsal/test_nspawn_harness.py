"""The nspawn harness says why it cannot run, instead of failing, where it lacks root or tools."""

from __future__ import annotations

from aimachine.rehearsal import guest as nspawn


def test_not_root_is_a_reason(monkeypatch):
    monkeypatch.setattr(nspawn.os, "geteuid", lambda: 1000)
    assert "needs root" in nspawn.unavailable_reason()


def test_missing_tools_are_named_with_the_packages(monkeypatch):
    monkeypatch.setattr(nspawn.os, "geteuid", lambda: 0)
    monkeypatch.setattr(nspawn.shutil, "which", lambda tool: None if tool == "debootstrap" else "/usr/bin/x")
    reason = nspawn.unavailable_reason()
    assert reason.startswith("missing debootstrap: apt-get install systemd-container debootstrap")


def test_mirror_comes_from_the_hosts_apt_sources():
    assert nspawn.host_mirror().startswith("http")
