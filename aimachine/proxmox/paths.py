"""Every Proxmox VE API path the tool calls, in one place (the simulator serves the same ones, from the
official schema in aimachine/pvesim/api-schema/)."""

from __future__ import annotations

VERSION = "version"
PERMISSIONS = "access/permissions"
NODES = "nodes"
RESOURCES = "cluster/resources"  # with type=vm: every VM and container the token may see
NEXTID = "cluster/nextid"
PCI_MAPPINGS = "cluster/mapping/pci"
STORAGES = "storage"


def pci(node: str) -> str:
    return f"nodes/{node}/hardware/pci"


def storage_status(node: str, storage: str) -> str:
    return f"nodes/{node}/storage/{storage}/status"


def storage_content(node: str, storage: str) -> str:
    return f"nodes/{node}/storage/{storage}/content"


def task_status(node: str, upid: str) -> str:
    return f"nodes/{node}/tasks/{upid}/status"


def vm(node: str, vmid: int) -> str:
    return f"nodes/{node}/qemu/{vmid}"


def vm_config(node: str, vmid: int) -> str:
    return f"{vm(node, vmid)}/config"


def vm_status(node: str, vmid: int) -> str:
    return f"{vm(node, vmid)}/status/current"


def vm_stop(node: str, vmid: int) -> str:
    return f"{vm(node, vmid)}/status/stop"


def agent_interfaces(node: str, vmid: int) -> str:
    return f"{vm(node, vmid)}/agent/network-get-interfaces"
