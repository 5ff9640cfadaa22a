"""The card's state as the node reads it, and a VM start that does not finish: judged on the outputs the
real commands and the real provider print."""

from __future__ import annotations

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.proxmox import gpu_state
from aimachine.proxmox.messages import translate
from tests.conftest import ROOT

VM = load_catalog(ROOT / "catalog.yml").vms[0]
# `od -An -tx1 -N4 config`: the ids little-endian; the RTX 5060 Ti is 10de:2d04 (lspci-nn.rtx5060ti.txt)
HEALTHY = " de 10 04 2d\n"


@pytest.mark.parametrize(("stdout", "level", "phrase"), [
    ("D3hot\n" + HEALTHY, "ok", "(10de:2d04) answers on the bus, power state D3hot"),
    ("D0\n" + HEALTHY, "ok", "power state D0"),
    # fell off the bus: every config read is all-ones
    ("D3cold\n ff ff ff ff\n", "warn", "does not answer on the bus (config space reads ffff:ffff"),
    ("unknown\n ff ff ff ff\n", "warn", "did not reset after its last VM stop"),
    # a device still in reset answers Configuration Request Retry Status: 0xffff0001 (the tinygrad report on
    # a GB202 that never came back from FLR)
    ("D0\n 01 00 ff ff\n", "warn", "config space reads 0001:ffff"),
    # vfio: `Unable to change power state from D3cold to D0, device inaccessible`
    ("D3cold\n" + HEALTHY, "warn", "is powered off (D3cold): it may not wake"),
    ("D3hot\n de 10 84 2c\n", "warn", "answers as 10de:2c84, not 10de:2d04"),
    ("D3hot\n", "warn", "unreadable config space"),
])
def test_the_cards_state_is_judged_from_power_state_and_config_space(stdout, level, phrase):
    got_level, finding, remedy = gpu_state.judge(VM, 0, stdout, "")
    assert got_level == level and phrase in finding, finding
    assert ("power-cycle" in remedy) == ("answer on the bus" in finding or "D3cold" in finding)


def test_a_node_it_cannot_read_is_a_warning_naming_the_reset_bug():
    level, finding, remedy = gpu_state.judge(
        VM, 1, "", "sh: 1: cd: can't cd to /sys/bus/pci/devices/0000:01:00.0\n")
    assert level == "warn" and "can't cd" in finding and "#853" in finding and "proxmox.ssh_user" in remedy


def test_the_command_reads_the_gpu_function_only():
    assert gpu_state.state_command(VM) == (
        'cd "${AIMACHINE_NODE_SYSFS:-/sys}/bus/pci/devices/0000:01:00.0" && cat power_state && '
        "od -An -tx1 -N4 config")


# What bpg/terraform-provider-proxmox v0.111.1 prints when the start does not finish in timeout_start_vm:
# proxmox/nodes/tasks/tasks.go (WaitForTask) and proxmox/nodes/vms/vms.go (WaitForVMStatus), and what
# Proxmox's start task says when QEMU does not come up in time
HANGS = [
    'Error: VM start: timeout while waiting for task "UPID:android-19:0001A2B3:0F1E2D3C:6750A1B2:qmstart:140:'
    'root@pam!deploy:" to complete',
    'Error: timeout while waiting for VM 140 to enter the status "running"',
    "Error: task failed: start failed: command '/usr/bin/kvm -id 140 -name vm-llm-aimachine ...' failed: "
    "got timeout",
]


@pytest.mark.parametrize("output", HANGS)
def test_a_start_that_does_not_finish_names_the_reset_bug_and_the_power_cycle(output):
    assert gpu_state.start_hang(output)
    message, remedy = gpu_state.start_hang_message(140, None)
    assert "did not finish starting" in message and "#853" in message and "power-cycle" in remedy
    assert "this tool stopped" not in message
    assert "(this tool stopped VM 140 with the card 2026-12-06 10:00)" in gpu_state.start_hang_message(
        140, "2026-12-06 10:00")[0]


def test_other_timeouts_are_not_a_start_hang():
    for output in ('timeout while waiting for task "UPID:n:1:2:3:qmdestroy:140:root@pam:" to complete',
                   "timeout while waiting for the QEMU agent on VM 140 to become ready"):
        assert not gpu_state.start_hang(output)
    assert translate("timeout while waiting for the QEMU agent on VM 140 to become ready")[0] == \
        "the guest agent did not answer in time"
