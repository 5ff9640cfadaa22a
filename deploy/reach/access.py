"""How to reach a VM: its address (static, or recorded at provisioning) and its SSH login."""

from __future__ import annotations

from deploy.catalog.schema import Vm
from deploy.errors import PhaseError
from deploy.reach import state
from deploy.reach.ssh import SshTarget


def vm_target(vm: Vm, address: str | None = None, phase: str = "boot", remedy: str = "") -> SshTarget:
    """The SSH login of `vm` (at `address` if given), or a PhaseError saying how to get an address."""
    address = address or state.vm_address(vm.name, vm.static_address())
    if not address:
        raise PhaseError(phase, f"no address known for {vm.name}: its ipv4 is dhcp and no provision "
                         "has recorded one", remedy or f"run `aimachine provision {vm.name}` (it records "
                         "the guest agent's address) or set a static ipv4 in the catalog")
    # the tool's own known_hosts: VMs get rebuilt with new host keys, ~/.ssh stays untouched
    return SshTarget(address, vm.login.user, key_file=vm.login.private_key_path(),
                     known_hosts_file=str(state.state_dir() / "known_hosts"))
