"""The archive cache is filled with the apt calls the configure steps make, from their own lists: a
package added to a step changes the fill's stamp, so `make test-host` fills again."""

from __future__ import annotations

from aimachine.guest import apt_calls
from aimachine.rehearsal import archive_fill


def test_the_fill_makes_the_steps_apt_calls_in_their_order():
    calls = archive_fill.guest_commands()
    assert calls[0].endswith(" update") and calls[1] == apt_calls.FIRST_BOOT_UPGRADE
    installs = [c for c in calls if " install --no-install-recommends " in c]
    for names in (apt_calls.BASE_PACKAGES, apt_calls.SECURITY_PACKAGES, apt_calls.MONITORING_PACKAGES,
                  apt_calls.vllm_packages("3.12"), apt_calls.DOWNLOAD_PACKAGES):
        assert any(c.endswith(" ".join(names)) for c in installs), names
    # the no-Recommends file ubuntu-drivers is run with is in place before it
    assert any(apt_calls.UBUNTU_DRIVERS.split("=")[1].split()[0] in c for c in calls)


def test_a_new_package_in_a_step_changes_the_stamp(tmp_path, monkeypatch):
    before = archive_fill.stamp(tmp_path)
    monkeypatch.setitem(archive_fill.STEP_PACKAGES, "monitoring", [*apt_calls.MONITORING_PACKAGES, "htop"])
    assert archive_fill.stamp(tmp_path) != before
