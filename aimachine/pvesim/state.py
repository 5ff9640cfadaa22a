"""The simulator's world: nodes, VMs, storages and their volumes, PCI mappings, pools, tasks that run
before they stop, VM locks, faults, and a journal of every change request. Loaded from YAML, written
back after each change so tests can read it."""

from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aimachine.pvesim.access import PVE8_PRIVILEGES, PVE9_PRIVILEGES, from_state  # noqa: F401

# The virtual size of Ubuntu 24.04's noble-server-cloudimg-amd64.img (`qemu-img info`: 3.5 GiB): what
# an imported disk has before the provider resizes it.
CLOUD_IMAGE_BYTES = 3584 * 1024**2


class ApiError(Exception):
    """An error the API answers with: HTTP status, message in the status line, optional errors."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Task:
    """A worker task: `running` until `ends`, then `stopped` with its exit status (and `done` run)."""
    upid: str
    node: str
    kind: str
    ident: str
    exitstatus: str
    ends: float
    log: list[str] = field(default_factory=list)
    done: Callable[[], None] | None = None

    def status(self, now: float) -> dict[str, Any]:
        out = {"upid": self.upid, "node": self.node, "type": self.kind, "id": self.ident,
               "user": "root@pam", "pid": os.getpid(), "pstart": 1, "starttime": int(self.ends) - 1,
               "status": "running" if now < self.ends else "stopped"}
        if now >= self.ends:
            out["exitstatus"] = self.exitstatus
        return out


def volume_entry(entry: str | dict) -> dict[str, Any]:
    """A storage volume in the state file: a volid string (a cloud image) or {volid, size, format}."""
    if isinstance(entry, str):
        return {"volid": entry, "size": CLOUD_IMAGE_BYTES, "format": _format_of(entry)}
    return {"format": _format_of(entry["volid"]), **entry}


def _format_of(volid: str) -> str:
    name = volid.split("/", 1)[-1]
    for ext in ("qcow2", "vmdk", "iso"):
        if name.endswith("." + ext):
            return ext
    return "raw"


class World:
    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        data = yaml.safe_load(path.read_text()) or {}
        self.version = str(data.get("version") or "8.4")
        self.tokens: list = list(data.get("tokens") or [])
        self.roles: dict = dict(data.get("roles") or {})
        self.acl: list = list(data.get("acl") or [])
        self.access, self.secrets = from_state(data, self.version)
        self.nodes: dict[str, dict] = {str(k): v or {} for k, v in (data.get("nodes") or {}).items()}
        for node in self.nodes.values():
            node.setdefault("status", "online")
            node["vms"] = {int(k): v or {} for k, v in (node.get("vms") or {}).items()}
            node["containers"] = {int(k): v or {} for k, v in (node.get("containers") or {}).items()}
            for vm in node["vms"].values():
                vm.setdefault("status", "stopped")
                vm.setdefault("config", {})
            for st in (node.get("storage") or {}).values():
                st["volumes"] = [volume_entry(v) for v in st.get("volumes") or []]
        mappings = (data.get("mappings") or {}).get("pci") or {}
        self.mappings: dict[str, dict] = {k: v if isinstance(v, dict) else {"map": _as_list(v)}
                                          for k, v in mappings.items()}
        self.pools: dict[str, dict] = dict(data.get("pools") or {})
        self.faults: list[dict] = list(data.get("faults") or [])
        self.new_vms: dict = data.get("new_vms") or {}
        self.task_seconds = float(data.get("task_seconds", 0.3))
        self.journal: list[dict] = list(data.get("journal") or [])
        self.reads: list[str] = list(data.get("reads") or [])
        # every privilege check, per request: the evidence of what a deploy's calls need
        self.checks: list[dict] = list(data.get("checks") or [])
        self.checking: list[list] | None = None  # the checks of the request being served
        # PVE answers a bad token's 401 only after a pause (pve-access-control's authentication delay)
        self.auth_delay_s = float(data.get("auth_delay_s", 3.0))
        self.tasks: dict[str, Task] = {}
        self._seq = itertools.count(1)

    # ---- persistence ------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {"version": self.version, "tokens": self.tokens, "roles": self.roles, "acl": self.acl,
                "nodes": self.nodes,
                "mappings": {"pci": self.mappings}, "pools": self.pools, "faults": self.faults,
                "new_vms": self.new_vms, "task_seconds": self.task_seconds, "journal": self.journal,
                "reads": self.reads, "checks": self.checks, "auth_delay_s": self.auth_delay_s}

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

    def find_ct(self, vmid: int) -> dict | None:
        return next((n["containers"][vmid] for n in self.nodes.values()
                     if vmid in (n.get("containers") or {})), None)

    def vm(self, node: str, vmid: int) -> dict:
        vms = self.node(node)["vms"]
        if vmid not in vms:
            raise ApiError(500, f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
        return vms[vmid]

    def unlocked_vm(self, node: str, vmid: int) -> dict:
        """The VM for a change: a VM under a lock (a create still running) refuses it, as qemu-server does."""
        self.tick()
        vm = self.vm(node, vmid)
        if vm.get("lock"):
            raise ApiError(500, f"VM {vmid} is locked ({vm['lock']})")
        return vm

    def storage(self, node: str, name: str) -> dict:
        st = (self.node(node).get("storage") or {}).get(name)
        if st is None:
            raise ApiError(500, f"storage '{name}' does not exist")
        return st

    # ---- privileges -------------------------------------------------------------------------
    def may(self, token: str, path: str, *privs: str) -> bool:
        """Whether `token` (USER@REALM!ID) holds any one of `privs` on `path` (recorded in `checks`)."""
        held = self.access.holds_any(token, path, privs)
        if self.checking is not None:
            self.checking.append([path, sorted(privs), held])
        return held

    # ---- tasks ------------------------------------------------------------------------------
    def task(self, node: str, kind: str, vmid: int | str, exitstatus: str = "OK",
             done: Callable[[], None] | None = None, log: list[str] | None = None) -> str:
        """Start a task: `running` for task_seconds, then `stopped` with `exitstatus`."""
        now = time.time()
        upid = (f"UPID:{node}:{os.getpid():08X}:{next(self._seq):08X}:{int(now):08X}:"
                f"{kind}:{vmid}:root@pam!aimachine:")
        lines = list(log or [])
        lines.append("TASK OK" if exitstatus == "OK" else
                     exitstatus if exitstatus.startswith("WARNINGS") else f"TASK ERROR: {exitstatus}")
        self.tasks[upid] = Task(upid, node, kind, str(vmid), exitstatus, now + self.task_seconds, lines, done)
        return upid

    def tick(self) -> None:
        """Finish the tasks whose time is up (their `done` releases locks)."""
        now = time.time()
        for task in self.tasks.values():
            if task.done is not None and now >= task.ends:
                task.done, finish = None, task.done
                finish()

    # ---- faults -----------------------------------------------------------------------------
    def take_fault(self, method: str, path: str, user_agent: str = "") -> dict | None:
        """The first fault for this request (`client`: only for a User-Agent containing it)."""
        for fault in self.faults:
            if fault.get("client") and fault["client"] not in user_agent:
                continue
            if fault.get("method", "GET").upper() == method and fault.get("path") == path:
                times = int(fault.get("times", 1))
                if times <= 1:
                    self.faults.remove(fault)
                else:
                    fault["times"] = times - 1
                return fault
        return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
