"""The held driver and the swap file: the parsers of their facts and the commands they lead to."""

from __future__ import annotations

import pytest

from deploy.configure.driver_updates import missing_holds, reboot_note, upgrade_commands
from deploy.configure.swap import GIB, swap_commands
from deploy.guest import parsers
from deploy.guest.drivers import module_metapackages
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
    same = upgrade_commands("nvidia-driver-580-open", "nvidia-driver-580-open",
                            ["linux-modules-nvidia-580-open-generic"])
    assert same[0] == f"apt-mark unhold nvidia-driver-580-open {META} >/dev/null"
    assert f"--only-upgrade nvidia-driver-580-open {META} ||" in same[1]
    assert same[2].startswith("apt-mark hold nvidia-driver-580-open ")
    other = upgrade_commands("nvidia-driver-580-open", "nvidia-driver-595-open", [])
    assert other[0] == "apt-mark unhold nvidia-driver-580-open >/dev/null"
    assert other[1].startswith("{ ubuntu-drivers install nvidia:595-open && dpkg-query")
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
