"""The held driver, its deliberate upgrade and the swap file, through pyinfra's @fake connector:
the operations a fresh or changed VM gets, the commands they send, and zero changes when converged."""

from __future__ import annotations

import dataclasses

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.configure.steps import STEPS
from tests.conftest import FIXTURES, ROOT
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import KERNEL_METAS, converged, fresh

PKGS = "nvidia-driver-580-open linux-modules-nvidia-580-open-generic"
POLICY = (FIXTURES / "apt-cache-policy.nvidia-580-upgradable.txt").read_text()
HOLD = "nvidia | Hold nvidia-driver-580-open, its modules and the kernel metapackages (they move together)"
REBOOT_CHECK = "nvidia | Compare the loaded nvidia module with the installed driver (is a reboot needed?)"


@pytest.fixture(scope="module")
def vm():
    return load_catalog(ROOT / "catalog.yml").vms[0]


KERNELS = " ".join(KERNEL_METAS)


def pinned(vm, branch: int):
    return dataclasses.replace(vm, nvidia=dataclasses.replace(vm.nvidia, driver_branch=branch))


def test_fresh_host_holds_the_driver_and_its_modules_metapackage_after_installing(vm):
    run = run_fake([STEPS["nvidia"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed.index(HOLD) == 2  # right after the install and its check, before modprobe
    hold = [c for c in run.executed if c.startswith("apt-mark hold")]
    assert hold == [
        f"apt-mark hold nvidia-driver-580-open {KERNELS} $(dpkg-query -W -f='${{db:Status-Abbrev}} "
        "${Package}\\n' 'linux-modules-nvidia-580-open-*' 2>/dev/null | awk '$1 ~ /^[ih]i/ && "
        "$2 ~ /^linux-modules-nvidia-580-open-[a-z]/ {print $2}')"
    ]


@pytest.mark.parametrize("held", [[], ["nvidia-driver-580-open"], ["linux-modules-nvidia-580-open-generic"]])
def test_a_missing_hold_is_put_back_and_nothing_else_changes(vm, held):
    host = converged(vm)
    host.holds = held
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == [HOLD]


def test_converged_host_reads_the_holds_and_changes_nothing(vm):
    run = run_fake([STEPS["nvidia"]], converged(vm).responses(), vm=vm)
    assert not run.failed and run.changed == []
    assert "apt-mark showhold" in run.executed
    assert not [c for c in run.executed if c.startswith(("apt-mark hold", "apt-mark unhold"))]


def test_a_newly_pinned_branch_does_not_move_the_held_driver_without_upgrade_driver(vm):
    vm595 = pinned(vm, 595)
    host = converged(vm595)
    host.overrides["ubuntu-drivers devices"] = (
        "driver   : nvidia-driver-595-open - distro non-free recommended\n"
        "driver   : nvidia-driver-580-open - distro non-free\n")
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm595)
    assert run.failed
    stop = [n for n in run.names if "Stop:" in n]
    assert stop and "pins nvidia.driver_branch 595, but nvidia-driver-580-open is installed" in stop[0]
    assert "aimachine configure vm-llm-aimachine --upgrade-driver" in stop[0]
    assert not [c for c in run.executed if c.startswith(("ubuntu-drivers install", "apt-mark"))]


def test_upgrade_unholds_upgrades_within_the_branch_holds_again_and_says_reboot(vm, caplog):
    host = converged(vm)
    host.overrides["apt-cache policy"] = POLICY
    host.overrides["/sys/module/nvidia/version"] = ["loaded=580.95.05", "installed=580.105.08-0ubuntu1"]
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm, upgrade_driver=True)
    assert not run.failed, run.error
    assert run.changed == [
        "nvidia | Upgrade the held driver and kernel together: nvidia-driver-580-open "
        "580.95.05-0ubuntu0.24.04.2 -> "
        "580.105.08-0ubuntu0.24.04.1, linux-modules-nvidia-580-open-generic 6.8.0-88.89+1 -> 6.8.0-90.91+1",
        REBOOT_CHECK,
    ]
    sent = [c for c in run.executed if c.startswith(("apt-mark", "DEBIAN_FRONTEND"))]
    assert sent[0] == f"apt-mark unhold {PKGS} {KERNELS} >/dev/null"
    assert sent[1].startswith("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                              f"-o DPkg::Lock::Timeout=300 --only-upgrade {PKGS} {KERNELS}")
    # a failed upgrade keeps the holds
    assert f"apt-mark hold {PKGS} {KERNELS} >/dev/null; exit $rc;" in sent[1]
    assert sent[2].startswith(f"apt-mark hold nvidia-driver-580-open {KERNELS} $(dpkg-query")
    assert any(c.startswith("apt-get -q -o DPkg::Lock::Timeout=300 update") for c in run.executed)
    assert ("NOTE: reboot needed: the loaded nvidia module is 580.95.05, the installed driver 580.105.08: "
            "reboot the VM (sudo reboot), then `aimachine verify vm-llm-aimachine`") in caplog.text


def test_upgrade_with_nothing_newer_changes_nothing(vm):
    host = converged(vm)
    host.overrides["apt-cache policy"] = (
        "nvidia-driver-580-open:\n  Installed: 580.95.05-0ubuntu0.24.04.2\n"
        "  Candidate: 580.95.05-0ubuntu0.24.04.2\n")
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm, upgrade_driver=True)
    assert not run.failed and run.changed == []
    assert not [c for c in run.executed if c.startswith(("apt-mark hold", "apt-mark unhold", "DEBIAN"))]


def test_upgrade_to_a_newly_pinned_branch_installs_it_and_holds_it(vm, caplog):
    vm595 = pinned(vm, 595)
    host = converged(vm595)
    host.overrides["ubuntu-drivers devices"] = (
        "driver   : nvidia-driver-595-open - distro non-free recommended\n"
        "driver   : nvidia-driver-580-open - distro non-free\n")
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm595, upgrade_driver=True)
    assert not run.failed, run.error
    assert run.changed == [
        "nvidia | Move the held driver from nvidia-driver-580-open to nvidia-driver-595-open "
        "(nvidia.driver_branch)", REBOOT_CHECK]
    sent = [c for c in run.executed if c.startswith(("apt-mark", "{ DEBIAN_FRONTEND"))]
    assert sent[0] == f"apt-mark unhold {PKGS} {KERNELS} >/dev/null"
    # the kernel first, then the new branch's modules for it, without Recommends
    assert sent[1].startswith("{ DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                              f"-o DPkg::Lock::Timeout=300 --only-upgrade {KERNELS} && APT_CONFIG="
                              "/etc/apt/aimachine-no-recommends.conf ubuntu-drivers install "
                              "nvidia:595-open && dpkg-query")
    assert sent[2].startswith(f"apt-mark hold nvidia-driver-595-open {KERNELS} $(dpkg-query")
    assert "NOTE: " in caplog.text


def test_upgrade_on_a_vm_without_a_driver_says_to_configure_first(vm):
    run = run_fake([STEPS["nvidia"]], fresh(vm).responses(), vm=vm, upgrade_driver=True)
    assert run.failed
    why = "nothing to upgrade: run `aimachine configure vm-llm-aimachine` first"
    assert [n for n in run.names if why in n]
    assert not [c for c in run.executed if "ubuntu-drivers install" in c or c.startswith("apt-mark")]


def with_swap(vm, gb: int):
    return dataclasses.replace(vm, swap_gb=gb)


def test_fresh_host_with_swap_gb_gets_the_swap_file_and_its_fstab_line(vm):
    vm8 = with_swap(vm, 8)
    run = run_fake([STEPS["base"]], fresh(vm8).responses(), vm=vm8)
    assert not run.failed, run.error
    assert run.changed[-2:] == [
        "base | Swap file /swapfile of 8 GiB, formatted and on (swap_gb)",
        "base | /etc/fstab turns /swapfile on at boot",
    ]
    sent = run.executed
    create = "fallocate -l 8G /swapfile || dd if=/dev/zero of=/swapfile bs=1M count=8192 status=none"
    assert sent.index(create) < sent.index("mkswap /swapfile") < sent.index("swapon /swapfile")
    assert "swapoff /swapfile" not in sent
    assert "echo '/swapfile none swap sw 0 0' >> /etc/fstab" in sent


def test_converged_host_with_swap_changes_nothing(vm):
    vm8 = with_swap(vm, 8)
    run = run_fake([STEPS["base"]], converged(vm8).responses(), vm=vm8)
    assert not run.failed and run.changed == []


def test_a_swap_file_of_another_size_is_turned_off_and_replaced(vm):
    vm8 = with_swap(vm, 8)
    host = converged(vm8)
    host.swap = f"size={2 * 1024**3}\ntype=swap\nactive=yes"
    run = run_fake([STEPS["base"]], host.responses(), vm=vm8)
    assert run.changed == ["base | Swap file /swapfile of 8 GiB, formatted and on (swap_gb)"]
    assert run.executed.index("swapoff /swapfile") < run.executed.index("rm -f /swapfile")


def test_swap_gb_0_leaves_an_admins_swap_alone(vm):
    host = fresh(vm)
    host.swap = f"size={4 * 1024**3}\ntype=swap\nactive=yes"
    run = run_fake([STEPS["base"]], host.responses(), vm=vm)
    assert not run.failed and not [n for n in run.names if "swap" in n.lower()]
    assert not [c for c in run.executed if "swap" in c]
