"""The held driver and the swap file: the parsers of their facts and the commands they lead to."""

from __future__ import annotations

import re
import subprocess

import pytest

from aimachine.configure.driver_updates import missing_holds, reboot_note, upgrade_commands
from aimachine.configure.swap import GIB, swap_commands
from aimachine.guest import parsers
from aimachine.guest.drivers import module_metapackages
from tests.conftest import FIXTURES

META = "linux-modules-nvidia-580-open-generic"
HWE = "linux-modules-nvidia-595-open-generic-hwe-24.04"
INSTALLED = ["nvidia-driver-580-open", "linux-modules-nvidia-580-open-generic",
             "linux-modules-nvidia-580-open-6.8.0-88-generic", "linux-modules-nvidia-580-server-open-generic",
             "linux-modules-nvidia-570-open-generic", "nvidia-utils-580"]


def test_modules_metapackages_are_the_flavours_of_the_branch_not_the_per_kernel_package():
    assert module_metapackages("nvidia-driver-580-open", INSTALLED) == [META]
    hwe = [HWE, "linux-modules-nvidia-595-open-6.14.0-1-generic"]
    assert module_metapackages("nvidia-driver-595-open", hwe) == [HWE]
    assert module_metapackages("nvidia-driver-580-open", ["nvidia-driver-580-open"]) == []


def test_missing_holds():
    assert missing_holds("nvidia-driver-580-open", INSTALLED, set()) == [
        "nvidia-driver-580-open", "linux-modules-nvidia-580-open-generic"]
    held = {"nvidia-driver-580-open", "linux-modules-nvidia-580-open-generic"}
    assert missing_holds("nvidia-driver-580-open", INSTALLED, held) == []


def test_showhold():
    assert parsers.parse_showhold("nvidia-driver-580-open\n\nlibfoo:i386\n") == {
        "nvidia-driver-580-open", "libfoo:i386"}
    assert parsers.parse_showhold("") == set()
    assert parsers.parse_showhold("W: some warning from apt\n") == set()


def test_apt_policy_reads_installed_and_candidate():
    policy = parsers.parse_apt_policy((FIXTURES / "apt-cache-policy.nvidia-580-upgradable.txt").read_text())
    driver = policy["nvidia-driver-580-open"]
    assert driver == parsers.AptVersions("580.95.05-0ubuntu0.24.04.2", "580.105.08-0ubuntu0.24.04.1")
    assert driver.upgradable
    assert policy["linux-modules-nvidia-580-open-generic"].candidate == "6.8.0-90.91+1"


def test_apt_policy_not_installed_and_up_to_date():
    policy = parsers.parse_apt_policy(
        "nvidia-driver-595-open:\n  Installed: (none)\n  Candidate: 595.58.03-0ubuntu1\n"
        "nvidia-driver-580-open:\n  Installed: 580.95.05-1\n  Candidate: 580.95.05-1\n  Version table:\n")
    assert policy["nvidia-driver-595-open"] == parsers.AptVersions(None, "595.58.03-0ubuntu1")
    assert not policy["nvidia-driver-580-open"].upgradable
    assert parsers.parse_apt_policy("") == {}


def test_module_versions():
    assert parsers.parse_module_versions("loaded=580.95.05\ninstalled=580.105.08-0ubuntu0.24.04.1\n") == (
        "580.95.05", "580.105.08")
    assert parsers.parse_module_versions("loaded=\ninstalled=\n") == (None, None)


@pytest.mark.parametrize(("loaded", "installed", "says"), [
    ("580.95.05", "580.105.08", "reboot needed: the loaded nvidia module is 580.95.05, the installed driver "
                                "580.105.08: reboot the VM (sudo reboot), then `aimachine verify vm-x`"),
    ("580.105.08", "580.105.08", "no reboot needed: the loaded nvidia module 580.105.08 is the installed"),
    (None, "595.58.03", "reboot needed: no nvidia module is loaded: reboot the VM to load 595.58.03"),
    ("580.95.05", None, "reboot needed: no NVIDIA driver package is installed now"),
])
def test_reboot_note(loaded, installed, says):
    assert reboot_note(loaded, installed, "vm-x").startswith(says)


def test_upgrade_within_the_branch_and_to_another():
    kernels = ["linux-generic", "linux-image-generic"]
    same = upgrade_commands("nvidia-driver-580-open", "nvidia-driver-580-open",
                            ["linux-modules-nvidia-580-open-generic"], kernels)
    assert same[0] == (f"apt-mark unhold nvidia-driver-580-open {META} linux-generic linux-image-generic "
                       ">/dev/null")
    # kernel and driver in one apt call: the new kernel comes with the driver's modules for it
    assert f"--only-upgrade nvidia-driver-580-open {META} linux-generic linux-image-generic ||" in same[1]
    assert same[2].startswith("apt-mark hold nvidia-driver-580-open linux-generic linux-image-generic ")
    other = upgrade_commands("nvidia-driver-580-open", "nvidia-driver-595-open", [], [])
    assert other[0] == "apt-mark unhold nvidia-driver-580-open >/dev/null"
    assert other[1].startswith("{ APT_CONFIG=/etc/apt/aimachine-no-recommends.conf ubuntu-drivers install "
                               "nvidia:595-open && dpkg-query")
    assert other[1].endswith("|| { rc=$?; apt-mark hold nvidia-driver-580-open >/dev/null; exit $rc; }")
    assert other[2].startswith("apt-mark hold nvidia-driver-595-open ")


def test_swap_file_parser():
    assert parsers.parse_swap_file(f"size={8 * GIB}\ntype=swap\nactive=yes") == parsers.SwapFile(
        8 * GIB, is_swap=True, active=True)
    assert parsers.parse_swap_file("size=1024\ntype=\n") == parsers.SwapFile(1024, False, False)
    assert parsers.parse_swap_file("") == parsers.SwapFile(None, is_swap=False, active=False)


def test_swap_commands_from_each_state():
    right = parsers.SwapFile(8 * GIB, is_swap=True, active=True)
    assert swap_commands(right, 8) == []
    assert swap_commands(parsers.SwapFile(8 * GIB, is_swap=True, active=False), 8) == ["swapon /swapfile"]
    assert swap_commands(parsers.SwapFile(8 * GIB, is_swap=False, active=False), 8) == [
        "chmod 600 /swapfile", "mkswap /swapfile", "swapon /swapfile"]
    resized = swap_commands(right, 16)
    assert resized[:2] == ["swapoff /swapfile", "rm -f /swapfile"]
    assert resized[2] == ("fallocate -l 16G /swapfile || "
                          "dd if=/dev/zero of=/swapfile bs=1M count=16384 status=none")
    assert swap_commands(parsers.SwapFile(None, is_swap=False, active=False), 1)[0] == "rm -f /swapfile"


KERNELS = ["linux-generic", "linux-headers-generic", "linux-image-generic"]  # the cloud image's metapackages


def test_the_kernel_is_held_with_the_driver():
    """A held driver beside a kernel that moves alone has no module after the next reboot (FACTS: [fix])."""
    installed = [*INSTALLED, *KERNELS, "linux-image-6.8.0-88-generic", "linux-firmware"]
    assert missing_holds("nvidia-driver-580-open", installed, set()) == [
        "nvidia-driver-580-open", META, *KERNELS]
    assert missing_holds("nvidia-driver-580-open", installed, {"nvidia-driver-580-open", META}) == KERNELS


def test_a_pending_kernel_says_reboot():
    note = reboot_note("580.95.05", "580.95.05", "vm-x", kernel_waits=True)
    assert note.startswith("reboot needed: a new kernel is installed with the driver's modules for it")


def _dpkg_query_shim(tmp_path, status_line: str):
    """A `dpkg-query` printing one Status line, as the real one does (tests/fixtures/dpkg-query.*)."""
    shim = tmp_path / "dpkg-query"
    shim.write_text(f"#!/bin/sh\necho '{status_line}'\n")
    shim.chmod(0o755)
    return {"PATH": f"{tmp_path}:/usr/bin:/bin"}


def _statuses(fixture: str) -> list[str]:
    return re.findall(r"\b(?:install|hold) ok installed\b", (FIXTURES / fixture).read_text())


@pytest.mark.parametrize("status", [
    *_statuses("dpkg-query.status.held-package.debian12.txt"),  # `install ok installed`, then held
    *_statuses("dpkg-query.status.held-package.specinfra-pr672.txt"),
])
def test_installed_check_accepts_an_installed_or_held_package(tmp_path, status):
    from aimachine.configure.driver_updates import installed_check

    ran = subprocess.run(["sh", "-c", installed_check("nvidia-driver-580-open")],
                         env=_dpkg_query_shim(tmp_path, status))
    assert ran.returncode == 0, status


def test_the_fixtures_hold_both_states():
    assert set(_statuses("dpkg-query.status.held-package.debian12.txt")) == {
        "install ok installed", "hold ok installed"}


def test_installed_check_refuses_a_removed_package(tmp_path):
    from aimachine.configure.driver_updates import installed_check

    ran = subprocess.run(["sh", "-c", installed_check("nvidia-driver-580-open")],
                         env=_dpkg_query_shim(tmp_path, "deinstall ok config-files"))
    assert ran.returncode == 1
