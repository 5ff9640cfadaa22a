"""The VM's address, decided in one place: the catalog's static one, else the one a run recorded from
the guest agent; and the SSH login that reaches it. Every command that needs the VM asks here, so
"no address" reads the same everywhere."""

from __future__ import annotations

import ipaddress
from typing import Any

from aimachine.catalog.schema import Vm
from aimachine.errors import PhaseError
from aimachine.reach import state
from aimachine.reach.ssh import SshTarget


class NoAddress(LookupError):
    pass


def agent_ipv4(answer: dict[str, Any] | list | None) -> str | None:
    """First IPv4 from network-get-interfaces that is not loopback or link-local (pure)."""
    interfaces = answer.get("result", []) if isinstance(answer, dict) else (answer or [])
    for iface in interfaces:
        if iface.get("name") == "lo":
            continue
        for addr in iface.get("ip-addresses") or []:
            if addr.get("ip-address-type") != "ipv4":
                continue
            ip = ipaddress.ip_address(addr.get("ip-address", "0.0.0.0"))
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                return str(ip)
    return None


def known_address(vm: Vm) -> str | None:
    """The catalog's static address, else the one provision recorded (None: neither)."""
    return vm.static_address() or state.recorded_address(vm.name)


def no_address(vm: Vm) -> str:
    return (f"no address known for {vm.name}: its ipv4 is dhcp and no provision has recorded one "
            f"(in {state.state_dir()}/{vm.name}.json)")


def no_address_remedy(vm: Vm) -> str:
    return (f"run `aimachine provision {vm.name}` (it records the guest agent's address) or set a static "
            "ipv4 in the catalog")


def require_address(vm: Vm, phase: str, remedy: str = "") -> str:
    """known_address, or a PhaseError of `phase` saying how to get one."""
    address = known_address(vm)
    if not address:
        raise PhaseError(phase, no_address(vm), remedy or no_address_remedy(vm))
    return address


def vm_target(vm: Vm, address: str | None = None, phase: str = "boot", remedy: str = "") -> SshTarget:
    """The SSH login of `vm` (at `address` if given, else its known address)."""
    address = address or require_address(vm, phase, remedy)
    # the tool's own known_hosts: VMs get rebuilt with new host keys, ~/.ssh stays untouched
    return SshTarget(address, vm.login.user, key_file=vm.login.private_key_path(),
                     known_hosts_file=str(state.state_dir() / "known_hosts"))
