"""Every @deploy through pyinfra's @fake connector: a fresh Ubuntu 24.04 VM with the RTX 5060 Ti gets
the expected operations in order, a converged one gets zero changes, a failing install stops the run."""

from __future__ import annotations

import dataclasses

import pytest

from deploy.catalog.schema import load_catalog
from deploy.configure.steps import STEPS
from tests.conftest import ROOT
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import converged, fresh


@pytest.fixture(scope="module")
def vm():
    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    nvidia = dataclasses.replace(vm.nvidia, cuda_keyring_sha256="c" * 64)
    ollama = dataclasses.replace(vm.services.ollama, models=["llama3.1:8b"])
    return dataclasses.replace(vm, nvidia=nvidia, services=dataclasses.replace(vm.services, ollama=ollama))


@pytest.mark.parametrize("step", list(STEPS))
def test_converged_host_gets_zero_changes(vm, step):
    run = run_fake([STEPS[step]], converged(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == []


def test_converged_host_all_steps_together_zero_changes(vm):
    run = run_fake(list(STEPS.values()), converged(vm).responses(), vm=vm)
    assert not run.failed and run.changed == []


def test_fresh_host_nvidia_in_order(vm):
    run = run_fake([STEPS["nvidia"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == [
        "nvidia | Install nvidia-driver-580-open (ubuntu-drivers install nvidia:580-open)",
        "nvidia | Confirm the signed module package linux-modules-nvidia-580-open-6.8.0-88-generic "
        "is installed",
        "nvidia | Hold nvidia-driver-580-open and its modules metapackage (apt upgrade keeps this driver)",
        "nvidia | Load the nvidia module",
        "nvidia | Load the nvidia_uvm module",
        "nvidia | nvidia-smi sees the GPU",
    ]
    assert "ubuntu-drivers install nvidia:580-open" in run.executed


def test_fresh_host_every_step_in_order(vm):
    run = run_fake(list(STEPS.values()), fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    steps_in_order = list(dict.fromkeys(name.split(" | ")[0] for name in run.changed))
    assert steps_in_order == list(STEPS)
    changed = run.changed
    # the driver pin is written before NVIDIA's repo is added; the toolkit never pulls `cuda`
    assert changed.index("cuda | Write /etc/apt/preferences.d/aimachine-cuda-driver-pin") < changed.index(
        "cuda | Install cuda-keyring (NVIDIA's CUDA repository)"
    )
    assert not [c for c in run.executed if " install " in c and (" cuda " in c or "cuda-drivers" in c)]
    assert "ollama | Pull model llama3.1:8b" in changed
    assert any(c.startswith("sshd -t") for c in run.executed)
    assert (
        "ufw --force enable" in run.executed
        and "ufw allow proto tcp from 192.168.0.0/24 to any port 22" in run.executed
    )


def test_nouveau_holding_the_card_reboots_and_says_why(vm):
    host = fresh(vm)
    host.pci_driver = "nouveau"
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    reboot = [n for n in run.names if "Reboot" in n]
    assert reboot == [
        "nvidia | Reboot: nouveau holds the GPU at 0000:01:00.0; nvidia can load only after a reboot"
    ]
    assert not [n for n in run.names if "modprobe" in n or "Load the" in n]


def test_failing_ubuntu_drivers_install_stops_with_its_output(vm, caplog):
    host = fresh(vm)
    host.overrides["ubuntu-drivers install"] = {
        "success": False,
        "stderr": "E: Unable to locate package nvidia-driver-580-open",
    }
    run = run_fake([STEPS["nvidia"], STEPS["cuda"]], host.responses(), vm=vm)
    assert run.failed
    assert run.executed[-1] == "ubuntu-drivers install nvidia:580-open"  # nothing ran after it
    assert "E: Unable to locate package nvidia-driver-580-open" in caplog.text


def test_no_acceptable_driver_stops_listing_the_offer(vm):
    host = fresh(vm)
    host.overrides["ubuntu-drivers devices"] = "driver   : nvidia-driver-580 - distro non-free recommended"
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    assert run.failed
    assert [n for n in run.names if n.startswith("nvidia | Stop: ubuntu-drivers offers no -open")]


def test_admin_outside_the_admin_network_is_not_locked_out(vm):
    host = fresh(vm)
    host.overrides["SSH_CLIENT"] = "10.9.9.9"
    run = run_fake([STEPS["security"]], host.responses(), vm=vm)
    assert run.failed
    why = "connects from 10.9.9.9, which firewall.admin_network 192.168.0.0/24 does not include"
    assert [n for n in run.names if why in n]
    assert not [c for c in run.executed if c.startswith("ufw ")]


def test_missing_keyring_checksum_stops_cuda(vm):
    no_sum = dataclasses.replace(vm, nvidia=dataclasses.replace(vm.nvidia, cuda_keyring_sha256=None))
    run = run_fake([STEPS["cuda"]], fresh(no_sum).responses(), vm=no_sum)
    assert run.failed and run.names[0].startswith("cuda | Stop: nvidia.cuda_keyring_sha256 is not set")


def test_a_newer_branch_in_the_archive_does_not_swap_the_installed_driver(vm):
    host = converged(vm)
    host.overrides["ubuntu-drivers devices"] = (
        "driver   : nvidia-driver-595-open - distro non-free recommended\n"
        "driver   : nvidia-driver-580-open - distro non-free\n")
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    assert not run.failed and run.changed == []
