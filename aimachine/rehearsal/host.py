"""The rehearsal's Proxmox host, built from the catalog: its node, storages, bridge, the GPU at the
catalog's PCI address in an IOMMU group of its own, and the failure scenarios an admin may meet.

Pure: a state dict for aimachine/pvesim, nothing else. Device ids and classes are the RTX 5060 Ti's
(tests/fixtures/lspci-nn.rtx5060ti.txt); the GPU function takes the catalog's vendor:device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aimachine import pci
from aimachine.catalog.schema import Catalog, Vm

GIB = 1024**3
GROUP = 14  # the GPU's IOMMU group (any number; the bridge above it shares it harmlessly)
# qemu-server's reservation check (PVE::QemuServer::PCI::reserve_pci_usage) when another VM holds it
GPU_IN_USE = "PCI device '{device}.0' already in use by VMID '{vmid}'"
# qemu-server's start task when QEMU does not come up in time (its `start failed: command ... failed: got
# timeout`), as a card stuck since its last VM stop makes it
START_TIMEOUT = "start failed: command '/usr/bin/kvm -id {vmid} -name {name} ...' failed: got timeout"


def import_image(image: str) -> str:
    """The catalog's image as a volume in `import` content: the provider imports those through the
    API, while an `iso` one it imports over SSH to the node, which the rehearsal does not simulate."""
    storage, _, rest = image.partition(":")
    name = rest.split("/", 1)[-1]
    if rest.startswith("import/"):
        return image
    stem = name.rsplit(".", 1)[0] if name.endswith((".img", ".raw")) else name
    return f"{storage}:import/{stem}.qcow2"


def _pci(vm: Vm) -> list[dict[str, Any]]:
    base = pci.device(vm.gpu.pci_address)
    vendor, device = vm.gpu.vendor_device.split(":")
    return [
        {"id": "0000:00:01.0", "class": "0x060400", "vendor": "0x8086", "device": "0xa70d",
         "iommugroup": GROUP},
        {"id": f"{base}.0", "class": "0x030000", "vendor": f"0x{vendor}", "device": f"0x{device}",
         "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": GROUP},
        {"id": f"{base}.1", "class": "0x040300", "vendor": "0x10de", "device": "0x22eb",
         "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": GROUP},
        {"id": "0000:02:00.0", "class": "0x010802", "vendor": "0x144d", "device": "0xa808",
         "iommugroup": GROUP + 1},
    ]


def _storages(cat: Catalog, vm: Vm, snippets_path: str) -> dict[str, dict[str, Any]]:
    files = {"type": "dir", "content": "iso,vztmpl,snippets,import,backup", "path": snippets_path,
             "total": 200 * GIB, "avail": 120 * GIB, "volumes": [import_image(vm.image)]}
    out: dict[str, dict[str, Any]] = {}
    for name in (cat.proxmox.storages.iso, cat.proxmox.storages.snippets, vm.image.split(":", 1)[0]):
        out[name] = dict(files, volumes=list(files["volumes"]))
    disk_total = max(2000 * GIB, 4 * vm.disk_gb * GIB)
    out.setdefault(vm.storage, {"type": "zfspool", "content": "images,rootdir", "total": disk_total,
                                "avail": disk_total * 3 // 4})
    if vm.storage in (cat.proxmox.storages.iso, cat.proxmox.storages.snippets):
        out[vm.storage]["content"] += ",images,rootdir"
        out[vm.storage]["avail"] = max(out[vm.storage]["avail"], 2 * vm.disk_gb * GIB)
    return out


def host_state(cat: Catalog, vm: Vm, token: str, snippets_path: str, agent_address: str,
               scenario: str | None = None) -> dict[str, Any]:
    """The simulator's state for a host ready for `vm`, then changed as `scenario` says."""
    node = cat.node_of(vm)
    state: dict[str, Any] = {
        "version": "8.4",
        "tokens": [token],
        "auth_delay_s": 0,
        "nodes": {node: {
            "status": "online", "maxcpu": max(64, vm.cores),
            "maxmem": max(128 * GIB, 2 * vm.memory_mb * 1024**2),
            "pci": _pci(vm),
            "network": [{"iface": vm.bridge, "type": "bridge", "active": 1, "autostart": 1,
                         "address": "127.0.0.1", "netmask": "8", "bridge_ports": "eno1",
                         "families": ["inet"]}],
            "storage": _storages(cat, vm, snippets_path),
            "vms": {},
        }},
        "mappings": {"pci": {}},
        # what a fresh VM's guest agent reports once cloud-init has brought it up
        "new_vms": {"agent": {"interfaces": [
            {"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4"}]},
            {"name": "eth0", "ip-addresses": [{"ip-address": agent_address, "ip-address-type": "ipv4"}]}]}},
    }
    if scenario:
        SCENARIOS[scenario].apply(state, node, vm)
    return state


# ---- scenarios ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    what: str  # the host, as the admin would find it
    apply: Callable[[dict[str, Any], str, Vm], None]


def other_vmid(vm: Vm) -> int:
    return 120 if vm.vmid != 120 else 121


def _gpu_holder(state: dict[str, Any], node: str, vm: Vm, status: str) -> None:
    """VM 120 'gaming' with the GPU passed through by the catalog's mapping (made by hand)."""
    state["nodes"][node]["vms"][other_vmid(vm)] = {
        "name": "gaming", "status": status,
        "config": {"hostpci0": f"mapping={vm.gpu.mapping},pcie=1", "cores": 8, "memory": 16384}}
    state["mappings"]["pci"][vm.gpu.mapping] = {
        "map": [f"node={node},path={pci.device(vm.gpu.pci_address)},id={vm.gpu.vendor_device},"
                f"iommugroup={GROUP},subsystem-id=19da:5300"],
        "description": "made by hand"}


def _gpu_busy(state: dict[str, Any], node: str, vm: Vm) -> None:
    _gpu_holder(state, node, vm, "running")


def _iommu_off(state: dict[str, Any], node: str, vm: Vm) -> None:
    # without an IOMMU, PVE lists every device with iommugroup -1 (PVE::SysFSTools::lspci)
    for device in state["nodes"][node]["pci"]:
        device["iommugroup"] = -1


def _vmid_taken(state: dict[str, Any], node: str, vm: Vm) -> None:
    state["nodes"][node]["vms"][vm.vmid] = {"name": "backup-server", "status": "running",
                                            "config": {"cores": 4, "memory": 8192}}


def _storage_small(state: dict[str, Any], node: str, vm: Vm) -> None:
    disks = state["nodes"][node]["storage"][vm.storage]
    disks["avail"] = vm.disk_gb * GIB // 5


def _start_fails(state: dict[str, Any], node: str, vm: Vm) -> None:
    """The holder is stopped when preflight looks, and started by someone before our VM starts."""
    _gpu_holder(state, node, vm, "stopped")
    state["faults"] = [{"method": "POST", "path": f"/nodes/{node}/qemu/{vm.vmid}/status/start",
                        "exitstatus": GPU_IN_USE.format(device=pci.device(vm.gpu.pci_address),
                                                        vmid=other_vmid(vm))}]


def _gpu_stuck(state: dict[str, Any], node: str, vm: Vm) -> None:
    """The card did not reset after its last VM stop: it answers all-ones, and the start times out."""
    state["node_card"] = {"power_state": "D3cold", "answers": False}
    state["faults"] = [{"method": "POST", "path": f"/nodes/{node}/qemu/{vm.vmid}/status/start",
                        "exitstatus": START_TIMEOUT.format(vmid=vm.vmid, name=vm.name)}]


SCENARIOS: dict[str, Scenario] = {
    "gpu-busy": Scenario("VM 120 'gaming' is running with the GPU passed through", _gpu_busy),
    "iommu-off": Scenario("IOMMU is off in the kernel: every PCI device is in IOMMU group -1", _iommu_off),
    "vmid-taken": Scenario("another VM, 'backup-server', already has the catalog's VM id", _vmid_taken),
    "storage-small": Scenario("the disk storage has a fifth of the space the disk needs", _storage_small),
    "start-fails": Scenario("VM 120 'gaming' (stopped when preflight looks) takes the GPU before the new "
                            "VM starts: the start task fails and the deploy rolls back", _start_fails),
    "gpu-stuck": Scenario("the card did not reset after its last VM stop (RTX 50, "
                          "open-gpu-kernel-modules#853): it answers all-ones on the bus and the VM start "
                          "times out", _gpu_stuck),
}
