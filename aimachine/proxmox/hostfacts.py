"""What preflight reads from the Proxmox host: every GET its rules need (read-only), gathered into
HostFacts; what could not be read is kept with its reason, for the rules to report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aimachine.catalog.schema import Catalog, Vm
from aimachine.proxmox import paths
from aimachine.proxmox import privileges as privs
from aimachine.proxmox.api import Api, ApiError


@dataclass
class HostFacts:
    """What the API told us; empty where it could not be read (then the check says so)."""
    node: str
    token_id: str = ""                                          # USER@REALM!TOKENID, never the secret
    pve_version: str = ""
    permissions: dict | None = None                             # access/permissions: path -> {priv: 1}
    nodes: list[dict] = field(default_factory=list)
    vms: list[dict] = field(default_factory=list)               # cluster/resources?type=vm
    configs: dict[int, dict] = field(default_factory=dict)      # vmid -> config, VMs on the node
    pci: list[dict] = field(default_factory=list)
    storages: dict[str, dict] = field(default_factory=dict)     # name -> status
    image_volumes: list[str] = field(default_factory=list)
    mappings: list[dict] = field(default_factory=list)
    vmid_taken: bool | None = None                              # cluster/nextid: sees every guest
    errors: dict[str, str] = field(default_factory=dict)        # what could not be read, and why

    def qemu(self) -> list[dict]:
        """The VMs among the guests (`type=vm` lists LXC containers too)."""
        return [v for v in self.vms if v.get("type", "qemu") == "qemu"]

    def sees_every_vm(self) -> bool | None:
        """None when the token's privileges could not be read."""
        return None if self.permissions is None else privs.sees_every_vm(self.permissions)

    def mapping_absent(self, name: str) -> bool:
        return "mappings" in self.errors or all(m.get("id") != name for m in self.mappings)

    def node_info(self) -> dict | None:
        return next((n for n in self.nodes if n.get("node") == self.node), None)

    def pve_major(self) -> int:
        head = self.pve_version.split(".", 1)[0]
        return int(head) if head.isdigit() else 8


def _read(facts: HostFacts, key: str, func: Any, *args: Any, **params: Any) -> Any:
    try:
        return func(*args, **params)
    except ApiError as err:
        facts.errors[key] = err.message
        return None


def gather(api: Api, catalog: Catalog, vm: Vm) -> HostFacts:
    """Every GET the checks need; raises ApiError only when the API itself is unusable."""
    node = catalog.node_of(vm)
    facts = HostFacts(node=node, token_id=api.creds.token_id)
    version = api.get(paths.VERSION)  # reachability and the token, before anything else
    facts.pve_version = str((version or {}).get("version", ""))
    tree = _read(facts, "permissions", api.get, paths.PERMISSIONS)
    facts.permissions = tree if isinstance(tree, dict) else None
    facts.nodes = api.get(paths.NODES)
    facts.vms = api.get(paths.RESOURCES, type="vm")
    info = facts.node_info()
    if not info or info.get("status") != "online":
        return facts
    facts.vmid_taken = _vmid_taken(facts, api, vm.vmid)
    for entry in facts.qemu():
        if entry.get("node") == node:
            vmid = int(entry["vmid"])
            cfg = _read(facts, f"config {vmid}", api.get, paths.vm_config(node, vmid))
            facts.configs[vmid] = cfg or {}
    facts.pci = _read(facts, "pci", api.get, paths.pci(node)) or []
    image_storage = vm.image.split(":", 1)[0]
    for name in {vm.storage, image_storage, catalog.proxmox.storages.snippets}:
        status = _read(facts, f"storage {name}", api.get, paths.storage_status(node, name))
        if status is not None:
            facts.storages[name] = status
    if image_storage in facts.storages:
        content = _read(facts, "image", api.get, paths.storage_content(node, image_storage)) or []
        facts.image_volumes = [c.get("volid", "") for c in content]
    # `checks` (the mapping's health on this node) come only with check-node
    facts.mappings = _read(facts, "mappings", api.get, paths.PCI_MAPPINGS, **{"check-node": node}) or []
    return facts


def _vmid_taken(facts: HostFacts, api: Api, vmid: int) -> bool | None:
    """cluster/nextid?vmid=N answers 400 'VM N already exists' for any guest, seen or not."""
    try:
        api.get(paths.NEXTID, vmid=vmid)
        return False
    except ApiError as err:
        if "already exists" in err.message:
            return True
        facts.errors["nextid"] = err.message
        return None
