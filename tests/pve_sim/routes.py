"""The API endpoints the tool uses, each a function of (world, path match, parameters, token id)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.pve_sim.state import ApiError, World

GIB = 1024**3
Route = tuple[str, re.Pattern, Callable[..., Any]]
ROUTES: list[Route] = []


def route(method: str, pattern: str) -> Callable:
    def register(func: Callable) -> Callable:
        ROUTES.append((method, re.compile(f"^{pattern}$"), func))
        return func
    return register


# ---- cluster ----------------------------------------------------------------------------------

@route("GET", "/version")
def version(w: World, m, p, token) -> dict:
    return {"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a"}


@route("GET", "/nodes")
def nodes(w: World, m, p, token) -> list:
    return [{"node": n, "status": d["status"], "type": "node", "maxcpu": d.get("maxcpu", 64),
             "maxmem": d.get("maxmem", 96 * GIB)} for n, d in w.nodes.items()]


def _vm_resource(node: str, vmid: int, vm: dict) -> dict:
    cfg = vm["config"]
    return {"id": f"qemu/{vmid}", "type": "qemu", "vmid": vmid, "name": vm.get("name", f"VM {vmid}"),
            "node": node, "status": vm["status"], "template": int(vm.get("template", 0)),
            "maxcpu": int(cfg.get("cores", 1)), "maxmem": int(cfg.get("memory", 2048)) * 1024**2,
            **({"lock": vm["lock"]} if vm.get("lock") else {})}


@route("GET", "/cluster/resources")
def resources(w: World, m, p, token) -> list:
    vms = [_vm_resource(n, i, vm) for n, d in w.nodes.items() for i, vm in d["vms"].items()]
    if p.get("type") == "vm":
        return vms
    return vms + [{"id": f"node/{n}", "type": "node", "node": n, "status": d["status"]}
                  for n, d in w.nodes.items()]


@route("GET", "/cluster/nextid")
def nextid(w: World, m, p, token) -> int:
    if "vmid" in p:
        vmid = int(p["vmid"])
        if w.find_vm(vmid):
            raise ApiError(400, "Parameter verification failed.", {"vmid": f"VM {vmid} already exists"})
        return vmid
    vmid = 100
    while w.find_vm(vmid):
        vmid += 1
    return vmid


@route("GET", "/cluster/mapping/pci")
def mappings(w: World, m, p, token) -> list:
    return [{"id": k, "map": v, "description": "", "checks": []} for k, v in w.mappings.items()]


@route("POST", "/cluster/mapping/pci")
def mapping_create(w: World, m, p, token) -> None:
    ident = p["id"]
    if ident in w.mappings:
        raise ApiError(500, f"pci ID '{ident}' already defined")
    w.mappings[ident] = _as_list(p.get("map"))


@route("GET", "/cluster/mapping/pci/(?P<id>[^/]+)")
def mapping_get(w: World, m, p, token) -> dict:
    if m["id"] not in w.mappings:
        raise ApiError(500, f"PCI mapping '{m['id']}' not found")
    return {"id": m["id"], "map": w.mappings[m["id"]], "type": "pci"}


@route("PUT", "/cluster/mapping/pci/(?P<id>[^/]+)")
def mapping_set(w: World, m, p, token) -> None:
    mapping_get(w, m, p, token)
    w.mappings[m["id"]] = _as_list(p.get("map"))


@route("DELETE", "/cluster/mapping/pci/(?P<id>[^/]+)")
def mapping_delete(w: World, m, p, token) -> None:
    mapping_get(w, m, p, token)
    del w.mappings[m["id"]]


def _storage_entry(name: str, st: dict) -> dict:
    return {"storage": name, "type": st.get("type", "dir"), "content": st.get("content", ""),
            **({"path": st["path"]} if "path" in st else {})}


@route("GET", "/storage")
def storage_list(w: World, m, p, token) -> list:
    """Like Proxmox: the list needs only Datastore.Audit; GET /storage/{id} needs Datastore.Allocate."""
    seen: dict[str, dict] = {}
    for node in w.nodes.values():
        for name, st in (node.get("storage") or {}).items():
            seen.setdefault(name, _storage_entry(name, st))
    return list(seen.values())


@route("GET", "/storage/(?P<s>[^/]+)")
def storage_config(w: World, m, p, token) -> dict:
    for node in w.nodes.values():
        st = (node.get("storage") or {}).get(m["s"])
        if st is not None:
            return _storage_entry(m["s"], st)
    raise ApiError(500, f"storage '{m['s']}' does not exist")


# ---- node -------------------------------------------------------------------------------------

@route("GET", "/nodes/(?P<n>[^/]+)/hardware/pci")
def pci(w: World, m, p, token) -> list:
    return list(w.node(m["n"]).get("pci") or [])


def _storage(w: World, node: str, name: str) -> dict:
    st = (w.node(node).get("storage") or {}).get(name)
    if st is None:
        raise ApiError(500, f"storage '{name}' does not exist")
    return st


@route("GET", "/nodes/(?P<n>[^/]+)/storage")
def storages(w: World, m, p, token) -> list:
    return [storage_status(w, {"n": m["n"], "s": s}, p, token) | {"storage": s}
            for s in (w.node(m["n"]).get("storage") or {})]


@route("GET", "/nodes/(?P<n>[^/]+)/storage/(?P<s>[^/]+)/status")
def storage_status(w: World, m, p, token) -> dict:
    st = _storage(w, m["n"], m["s"])
    total, avail = int(st.get("total", 0)), int(st.get("avail", 0))
    return {"type": st.get("type", "dir"), "content": st.get("content", ""), "total": total,
            "avail": avail, "used": total - avail, "active": 1, "enabled": 1, "shared": 0}


@route("GET", "/nodes/(?P<n>[^/]+)/storage/(?P<s>[^/]+)/content")
def storage_content(w: World, m, p, token) -> list:
    st = _storage(w, m["n"], m["s"])
    out = []
    for volid in st.get("volumes") or []:
        kind = volid.split(":", 1)[1].split("/", 1)[0] if "/" in volid else "images"
        out.append({"volid": volid, "content": kind, "size": 600 * 1024**2, "format": "raw"})
    return out


@route("GET", "/nodes/(?P<n>[^/]+)/tasks/(?P<upid>[^/]+)/status")
def task_status(w: World, m, p, token) -> dict:
    if m["upid"] not in w.tasks:
        raise ApiError(500, f"no such task '{m['upid']}'")
    return w.tasks[m["upid"]]


@route("GET", "/nodes/(?P<n>[^/]+)/tasks/(?P<upid>[^/]+)/log")
def task_log(w: World, m, p, token) -> list:
    task = task_status(w, m, p, token)
    return [{"n": 1, "t": f"TASK {'OK' if task['exitstatus'] == 'OK' else 'ERROR: ' + task['exitstatus']}"}]


# ---- qemu -------------------------------------------------------------------------------------

def _check_hostpci(cfg: dict, token: str) -> None:
    """A token never counts as root@pam: raw PCI devices need a mapping (qemu-server)."""
    for key, value in cfg.items():
        if key.startswith("hostpci") and not str(value).startswith("mapping="):
            raise ApiError(500, f"only root can set '{key}' config for non-mapped devices")


@route("GET", "/nodes/(?P<n>[^/]+)/qemu")
def qemu_list(w: World, m, p, token) -> list:
    return [_vm_resource(m["n"], i, vm) for i, vm in w.node(m["n"])["vms"].items()]


@route("POST", "/nodes/(?P<n>[^/]+)/qemu")
def qemu_create(w: World, m, p, token) -> str:
    node = w.node(m["n"])
    vmid = int(p.pop("vmid"))
    if w.find_vm(vmid):
        raise ApiError(500, f"unable to create VM {vmid} - VM {vmid} already exists on node '{m['n']}'")
    _check_hostpci(p, token)
    name = p.pop("name", f"VM {vmid}")
    start = str(p.pop("start", "0")) == "1"
    node["vms"][vmid] = {"name": name, "status": "stopped", "config": {"name": name, **p},
                         **({"agent": w.new_vms["agent"]} if w.new_vms.get("agent") else {})}
    upid = w.task(m["n"], "qmcreate", vmid)
    if start:
        _start(w, m["n"], vmid)
    return upid


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config")
def qemu_config(w: World, m, p, token) -> dict:
    vm = w.vm(m["n"], int(m["id"]))
    return {"name": vm.get("name"), **vm["config"], "digest": "0" * 40}


def _set_config(w: World, m, p, token) -> None:
    vm = w.vm(m["n"], int(m["id"]))
    deletes = [k for k in str(p.pop("delete", "")).split(",") if k]
    p.pop("digest", None)
    _check_hostpci(p, token)
    vm["config"].update(p)
    for key in deletes:
        vm["config"].pop(key, None)
    if "name" in p:
        vm["name"] = p["name"]


@route("PUT", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config")
def qemu_config_put(w: World, m, p, token) -> None:
    _set_config(w, m, p, token)


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config")
def qemu_config_post(w: World, m, p, token) -> str:
    _set_config(w, m, p, token)
    return w.task(m["n"], "qmconfig", m["id"])


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/current")
def qemu_status(w: World, m, p, token) -> dict:
    vm = w.vm(m["n"], int(m["id"]))
    return {"vmid": int(m["id"]), "name": vm.get("name"), "status": vm["status"],
            "qmpstatus": vm["status"], "agent": 1 if vm["config"].get("agent") else 0}


def _devices(cfg: dict) -> list[str]:
    return [str(v).split(",")[0] for k, v in cfg.items() if k.startswith("hostpci")]


def _mapping_paths(w: World, node: str, name: str) -> list[str]:
    paths = []
    for entry in w.mappings.get(name, []):
        fields = dict(f.split("=", 1) for f in entry.split(",") if "=" in f)
        if fields.get("node") == node:
            paths.append(fields.get("path", ""))
    return paths


def _host_paths(w: World, node: str, cfg: dict) -> set[str]:
    out = set()
    for dev in _devices(cfg):
        if dev.startswith("mapping="):
            out.update(_mapping_paths(w, node, dev.removeprefix("mapping=")))
        else:
            out.add(dev if dev.count(":") == 2 else f"0000:{dev}")
    return {p.rsplit(".", 1)[0] if p.count(".") else p for p in out}


def _start(w: World, node: str, vmid: int) -> str:
    vm = w.vm(node, vmid)
    mine = _host_paths(w, node, vm["config"])
    for other_id, other in w.nodes[node]["vms"].items():
        if other_id != vmid and other["status"] == "running":
            shared = mine & _host_paths(w, node, other["config"])
            if shared:
                dev = sorted(shared)[0] + ".0"
                return w.task(node, "qmstart", vmid, f"start failed: PCI device '{dev}' already in use "
                                                     f"by VMID '{other_id}'")
    vm["status"] = "running"
    return w.task(node, "qmstart", vmid)


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/start")
def qemu_start(w: World, m, p, token) -> str:
    return _start(w, m["n"], int(m["id"]))


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/(?P<op>stop|shutdown)")
def qemu_stop(w: World, m, p, token) -> str:
    w.vm(m["n"], int(m["id"]))["status"] = "stopped"
    return w.task(m["n"], f"qm{m['op']}", m["id"])


@route("DELETE", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)")
def qemu_delete(w: World, m, p, token) -> str:
    vmid = int(m["id"])
    vm = w.vm(m["n"], vmid)
    if vm["status"] == "running":
        raise ApiError(500, f"VM {vmid} is running - destroy failed")
    del w.nodes[m["n"]]["vms"][vmid]
    return w.task(m["n"], "qmdestroy", vmid)


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/agent/network-get-interfaces")
def agent_interfaces(w: World, m, p, token) -> dict:
    vm = w.vm(m["n"], int(m["id"]))
    if not vm["config"].get("agent") or str(vm["config"]["agent"]).split(",")[0] in ("0", "enabled=0"):
        raise ApiError(500, "No QEMU guest agent configured")
    if vm["status"] != "running" or not vm.get("agent"):
        raise ApiError(500, "QEMU guest agent is not running")
    return {"result": vm["agent"].get("interfaces", [])}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
