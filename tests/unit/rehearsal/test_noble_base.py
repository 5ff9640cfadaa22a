"""The test host's root is checked with Ubuntu's archive keyring from a pinned package: a keyring
package that is not the pinned one stops the build before debootstrap runs."""

from __future__ import annotations

import pytest

from aimachine.rehearsal import archive_cache, noble_base


def test_a_keyring_package_other_than_the_pinned_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMACHINE_NSPAWN_CACHE", str(tmp_path / "roots"))
    cache = archive_cache.ArchiveCache(tmp_path / "archive", "offline")
    deb = archive_cache.cache_path(cache.root, f"{archive_cache.ARCHIVE}/{noble_base.KEYRING_DEB}")
    deb.parent.mkdir(parents=True)
    deb.write_bytes(b"not ubuntu-keyring")
    with pytest.raises(RuntimeError, match=f"expected {noble_base.KEYRING_SHA256}"):
        noble_base.keyring(cache)
    assert not (tmp_path / "roots").exists()


def test_without_the_keyring_package_the_remedy_is_the_fill(tmp_path):
    cache = archive_cache.ArchiveCache(tmp_path, "offline")
    with pytest.raises(RuntimeError, match="run make test-host"):
        noble_base.keyring(cache)


def test_the_seed_gives_each_boot_a_new_instance(tmp_path):
    one = (noble_base.fresh_seed(tmp_path / "a", "#cloud-config\n", "h") / "meta-data").read_text()
    two = (noble_base.fresh_seed(tmp_path / "b", "#cloud-config\n", "h") / "meta-data").read_text()
    assert one != two and "local-hostname: h" in one
