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


def test_each_net_sends_apt_to_the_archive_cache_on_its_own_host_side():
    assert nspawn.TEST_NET.apt_proxy() == 'Acquire::http::Proxy "http://10.213.0.1:3142/";\n'
    # no gateway: the guest has no route out, only its /30
    assert "Gateway" not in nspawn.REHEARSAL_NET.network_file()
