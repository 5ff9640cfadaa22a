"""The card's state on the node, read-only over the node's SSH, and what to say about an RTX 50 card that
did not come back from its last VM stop.

An RTX 50 card in passthrough may not reset when its VM stops (NVIDIA/open-gpu-kernel-modules#853: a
5070 Ti hangs its host at VM shutdown; failed function-level resets on other Blackwell cards). Such a
card answers config-space reads with all-ones (the kernel then logs `not ready 65535ms after FLR;
giving up`, or `Unable to change power state from D3cold to D0, device inaccessible`), and the next VM
start hangs until the host is power-cycled. Preflight reads it before a start; the provision phase names
it when a start does not finish; destroy and rollback say it when they stop a VM that holds the card.
"""

from __future__ import annotations

import re
import shlex

from aimachine.catalog.schema import Vm

RESET_BUG = "NVIDIA/open-gpu-kernel-modules#853"
POWER_CYCLE = ("power-cycle the Proxmox host (shut it down, switch it off, start it: a reboot may not reset "
               "the card), then re-run")
# Where the node keeps its PCI devices. A stand-in node (the rehearsal, the tests) points the command at a
# synthetic tree with AIMACHINE_NODE_SYSFS; ssh passes no such variable to a real node.
SYSFS = "${AIMACHINE_NODE_SYSFS:-/sys}"


def function_address(vm: Vm) -> str:
    """The GPU function (`.0`) of the catalog's address, which may name the device without a function."""
    address = vm.gpu.pci_address.lower()
    return address if "." in address else address + ".0"


def state_command(vm: Vm) -> str:
    """Print the card's power state, then the first 4 bytes of its config space (vendor, device) in hex."""
    folder = f"{SYSFS}/bus/pci/devices/{shlex.quote(function_address(vm))}"
    return f'cd "{folder}" && cat power_state && od -An -tx1 -N4 config'


def judge(vm: Vm, rc: int, stdout: str, stderr: str) -> tuple[str, str, str]:
    """(level, finding, remedy) for the output of state_command (pure)."""
    address = function_address(vm)
    if rc != 0:
        why = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        return ("warn", f"could not read {address} on the node ({why[0]}): a card stuck since its last VM "
                f"stop would hang the start ({RESET_BUG})",
                "make `ssh NODE cat /sys/bus/pci/devices/ADDRESS/power_state` work (proxmox.ssh_user)")
    lines = stdout.split("\n", 1)
    power = lines[0].strip()
    config = re.findall(r"[0-9a-f]{2}", lines[1] if len(lines) > 1 else "")
    if len(config) != 4:
        return ("warn", f"{address}: unreadable config space ({stdout.strip()!r})", "")
    ids = f"{config[1]}{config[0]}:{config[3]}{config[2]}"
    if ids == "ffff:ffff" or (config[:2] == ["01", "00"] and config[2:] == ["ff", "ff"]):
        return ("warn", f"{address} does not answer on the bus (config space reads {ids}, power {power}): "
                f"the card did not reset after its last VM stop ({RESET_BUG}); a VM start would hang",
                POWER_CYCLE)
    if ids != vm.gpu.vendor_device.lower():
        return ("warn", f"{address} answers as {ids}, not {vm.gpu.vendor_device}", "check gpu.pci_address")
    if power == "D3cold":
        return ("warn", f"{address} ({ids}) is powered off (D3cold): it may not wake for the VM "
                f"(`Unable to change power state from D3cold to D0`; {RESET_BUG})",
                "if the start hangs: " + POWER_CYCLE)
    return ("ok", f"{address} ({ids}) answers on the bus, power state {power}", "")


# bpg's provider, waiting for the start (proxmox/nodes/tasks/tasks.go WaitForTask, vms.go WaitForVMStatus in
# v0.111.1), and Proxmox's own start task when QEMU does not come up (`start failed: ... got timeout`)
_START_HANG = re.compile(
    r"timeout while waiting for task \"[^\"]*:qmstart:(?P<vmid>\d+):"
    r"|timeout while waiting for VM (?P<vmid2>\d+) to enter the status \"running\""
    r"|start failed: .*got timeout")


def start_hang(output: str) -> bool:
    """Does Terraform's OUTPUT say a VM start did not finish?"""
    return bool(_START_HANG.search(output))


def start_hang_message(vmid: int, forced_stop: str | None) -> tuple[str, str]:
    """(message, remedy) for a VM start that did not finish."""
    before = f" (this tool stopped VM {vmid} with the card {forced_stop})" if forced_stop else ""
    return (f"VM {vmid} did not finish starting: an RTX 50 card that did not reset after its last VM stop "
            f"hangs the start{before} ({RESET_BUG}); `journalctl -k | grep -i vfio` on the node shows "
            "`not ready ... after FLR` or `Unable to change power state`",
            POWER_CYCLE)


def stopped_note(vmid: int, how: str) -> str:
    """What destroy and rollback say after stopping a VM that held the card."""
    return (f"  NOTE: VM {vmid} held the GPU and was {how}: RTX 50 cards may not reset after a stop "
            f"({RESET_BUG}); if the next VM start hangs, {POWER_CYCLE}")
