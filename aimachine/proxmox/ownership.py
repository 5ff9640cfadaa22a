"""Whether the catalog's VM id is ours: decided here, and only here, for preflight, rollback, status and
destroy. An id held by a VM of another name, or by a container, is never touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aimachine.errors import PhaseError
from aimachine.proxmox import paths
from aimachine.proxmox.api import Api


@dataclass(frozen=True)
class Holder:
    """What holds a VM id: its cluster/resources entry, or None when the id is free (as far as seen)."""

    vmid: int
    entry: dict[str, Any] | None

    @property
    def exists(self) -> bool:
        return self.entry is not None

    @property
    def name(self) -> str:
        return str((self.entry or {}).get("name", ""))

    @property
    def status(self) -> str:
        return str((self.entry or {}).get("status", ""))

    @property
    def is_vm(self) -> bool:
        return self.exists and (self.entry or {}).get("type", "qemu") == "qemu"

    def ours(self, vm_name: str) -> bool:
        """The id holds a VM of this very name: the catalog's VM, made by an earlier run."""
        return self.is_vm and self.name == vm_name

    def foreign(self, vm_name: str) -> bool:
        """The id holds something else: hands off."""
        return self.exists and not self.ours(vm_name)


def holder(resources: list[dict[str, Any]], vmid: int) -> Holder:
    """The holder of `vmid` in a cluster/resources?type=vm answer (pure)."""
    return Holder(vmid, next((r for r in resources if "vmid" in r and int(r["vmid"]) == vmid), None))


def holder_on(api: Api, vmid: int) -> Holder:
    return holder(api.get(paths.RESOURCES, type="vm"), vmid)


def refuse_foreign(found: Holder, vm_name: str, node: str, action: str) -> None:
    """Stop before `action` (the command: destroy) when the id belongs to another VM (or a container)."""
    if found.foreign(vm_name):
        raise PhaseError(action, f"VM {found.vmid} on {node} is named {found.name!r}, not {vm_name!r}: "
                         f"refusing to {action} it",
                         "fix the vmid in the catalog; that VM is not managed by this catalog")
