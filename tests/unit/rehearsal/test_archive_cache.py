"""The archive cache: which URLs it keeps, and offline it serves what it has and 404s the rest (recorded),
as an HTTP proxy for apt and directly for debootstrap, without reaching any network."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from aimachine.rehearsal.archive_cache import ArchiveCache, cache_path, serving

INRELEASE = "http://archive.ubuntu.com/ubuntu/dists/noble/InRelease"


@pytest.mark.parametrize("url", [
    "https://archive.ubuntu.com/ubuntu/dists/noble/InRelease",  # apt here speaks plain http
    "http://example.org/ubuntu/dists/noble/InRelease",  # not Ubuntu's archive
    "http://archive.ubuntu.com/debian/dists/noble/InRelease",
    "http://archive.ubuntu.com/ubuntu/../../etc/passwd",
    "http://archive.ubuntu.com/ubuntu/dists/noble/InRelease?x=1",
])
def test_only_files_of_ubuntus_archive_have_a_place(tmp_path, url):
    assert cache_path(tmp_path, url) is None


def test_a_file_of_the_archive_lives_under_its_path(tmp_path):
    assert cache_path(tmp_path, INRELEASE) == tmp_path / "ubuntu/dists/noble/InRelease"
    deb = "ubuntu/pool/main/a/apt/apt_2.7.14build2_amd64.deb"
    # both hosts serve one archive: a file fetched from either is found for both
    assert cache_path(tmp_path, f"http://security.ubuntu.com/{deb}") == tmp_path / deb
    assert cache_path(tmp_path, f"http://archive.ubuntu.com/{deb}") == tmp_path / deb


def _get(proxy: str, target: str, host: str | None = None) -> tuple[int, bytes]:
    address, port = proxy.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=10)
    conn.request("GET", target, headers={"Host": host} if host else {})
    answer = conn.getresponse()
    return answer.status, answer.read()


def test_offline_it_serves_what_it_holds_and_records_what_it_lacks(tmp_path: Path):
    cached = cache_path(tmp_path, INRELEASE)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"-----BEGIN PGP SIGNED MESSAGE-----\n")
    cache = ArchiveCache(tmp_path, "offline")
    with serving("127.0.0.1", cache, 0) as proxy:
        assert _get(proxy, INRELEASE) == (200, cached.read_bytes())  # proxy form (apt)
        assert _get(proxy, "/ubuntu/dists/noble/InRelease", "archive.ubuntu.com")[0] == 200  # direct
        status, body = _get(proxy, "http://archive.ubuntu.com/ubuntu/dists/noble-updates/InRelease")
        assert status == 404 and b"make test-host" in body
        assert _get(proxy, "http://example.org/ubuntu/x")[0] == 404
    assert cache.misses == ["http://archive.ubuntu.com/ubuntu/dists/noble-updates/InRelease"]
    assert cache.fetched == []


def test_a_mode_other_than_fill_or_offline_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allowed: fill, offline"):
        ArchiveCache(tmp_path, "online")


def test_a_file_the_archive_lacked_at_fill_time_is_lacked_again_without_a_miss(tmp_path):
    (tmp_path / ".unpublished").write_text("ubuntu/pool/restricted/l/x/new.deb\n")
    cache = ArchiveCache(tmp_path, "offline")
    assert cache.get("http://security.ubuntu.com/ubuntu/pool/restricted/l/x/new.deb") is None
    assert cache.misses == []
    assert cache.get("http://archive.ubuntu.com/ubuntu/pool/restricted/l/x/other.deb") is None
    assert cache.misses == ["http://archive.ubuntu.com/ubuntu/pool/restricted/l/x/other.deb"]


def test_the_tests_run_it_offline_unless_an_install_step_asks_to_fill(monkeypatch, tmp_path):
    monkeypatch.delenv("AIMACHINE_ARCHIVE_MODE", raising=False)
    assert ArchiveCache(tmp_path).mode == "offline"
    monkeypatch.setenv("AIMACHINE_ARCHIVE_MODE", "fill")
    assert ArchiveCache(tmp_path).mode == "fill"
