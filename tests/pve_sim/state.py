"""The simulator's world: nodes, VMs, storages, PCI mappings, tasks, faults, and a journal of
every change request. Loaded from YAML, written back after each change so tests can read it."""

from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import yaml

# Every privilege Proxmox VE 8 knows (pveum role list): what a token given as a plain string holds.
PVE8_PRIVILEGES = (
    "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
    "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify",
    "Pool.Allocate", "Pool.Audit", "Realm.Allocate", "Realm.AllocateUser", "SDN.Allocate", "SDN.Audit",
    "SDN.Use", "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify",
    "Sys.PowerMgmt", "Sys.Syslog", "User.Modify", "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone",
    "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType",
    "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.Migrate",
    "VM.Monitor", "VM.PowerMgmt", "VM.Snapshot", "VM.Snapshot.Rollback",
)


def token_grants(entries: list) -> dict[str, frozenset[str]]:
    """token string -> its privileges (granted on / with propagation): a plain string holds every one,
    a mapping {token: ..., privs: [...]} only those listed."""
    grants = {}
    for entry in entries:
        if isinstance(entry, dict):
            grants[str(entry["token"])] = frozenset(entry.get("privs") or [])
        else:
            grants[str(entry)] = frozenset(PVE8_PRIVILEGES)
    return grants


class ApiError(Exception):
    """An error the API answers with: HTTP status, message in the status line, optional errors."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


class World:
    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        data = yaml.safe_load(path.read_text()) or {}
        self.tokens: list = list(data.get("tokens") or [])
        self.grants = token_grants(self.tokens)
        self.nodes: dict[str, dict] = {str(k): v or {} for k, v in (data.get("nodes") or {}).items()}
        for node in self.nodes.values():
            node.setdefault("status", "online")
            node["vms"] = {int(k): v or {} for k, v in (node.get("vms") or {}).items()}
            for vm in node["vms"].values():
                vm.setdefault("status", "stopped")
                vm.setdefault("config", {})
        self.mappings: dict[str, list[str]] = dict((data.get("mappings") or {}).get("pci") or {})
        self.faults: list[dict] = list(data.get("faults") or [])
        self.new_vms: dict = data.get("new_vms") or {}
        self.journal: list[dict] = list(data.get("journal") or [])
        self.tasks: dict[str, dict] = {}
        self._seq = itertools.count(1)

    # ---- persistence ------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "nodes": self.nodes, "mappings": {"pci": self.mappings},
                "faults": self.faults, "new_vms": self.new_vms, "journal": self.journal}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(copy.deepcopy(self.dump()), sort_keys=False))
        os.replace(tmp, self.path)

    # ---- lookups ----------------------------------------------------------------------------
    def node(self, name: str, need_online: bool = True) -> dict:
        if name not in self.nodes:
            raise ApiError(500, f"hostname lookup '{name}' failed - failed to get address info for: "
                                f"{name}: Name or service not known")
        node = self.nodes[name]
        if need_online and node["status"] != "online":
            raise ApiError(595, f"Connection refused (node '{name}' is {node['status']})")
        return node

    def find_vm(self, vmid: int) -> tuple[str, dict] | None:
        for name, node in self.nodes.items():
            if vmid in node["vms"]:
                return name, node["vms"][vmid]
        return None

    def vm(self, node: str, vmid: int) -> dict:
        vms = self.node(node)["vms"]
        if vmid not in vms:
            raise ApiError(500, f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
        return vms[vmid]

    # ---- privileges -------------------------------------------------------------------------
    def may(self, token: str, *privs: str) -> bool:
        """Whether `token` holds any of `privs` (the simulator grants on /, so every path alike)."""
        return bool(self.grants.get(token, frozenset()) & set(privs))

    # ---- tasks ------------------------------------------------------------------------------
    def task(self, node: str, kind: str, vmid: int | str, exitstatus: str = "OK") -> str:
        upid = (f"UPID:{node}:{os.getpid():08X}:{next(self._seq):08X}:{int(time.time()):08X}:"
                f"{kind}:{vmid}:root@pam!aimachine:")
        self.tasks[upid] = {"upid": upid, "node": node, "type": kind, "id": str(vmid),
                            "status": "stopped", "exitstatus": exitstatus, "user": "root@pam",
                            "starttime": int(time.time())}
        return upid

    # ---- faults -----------------------------------------------------------------------------
    def take_fault(self, method: str, path: str) -> dict | None:
        for fault in self.faults:
            if fault.get("method", "GET").upper() == method and fault.get("path") == path:
                times = int(fault.get("times", 1))
                if times <= 1:
                    self.faults.remove(fault)
                else:
                    fault["times"] = times - 1
                return fault
        return None
