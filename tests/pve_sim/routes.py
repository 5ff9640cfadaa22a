"""The API endpoints the tool uses, each a function of (world, path match, parameters, token id),
each declaring the privileges Proxmox VE 8 checks for it before it runs (pve-manager, qemu-server)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.pve_sim.state import ApiError, World

GIB = 1024**3
Need = tuple[str, tuple[str, ...]]  # ACL path, any one of these privileges
Needs = Callable[[dict, dict], list[Need]]
Route = tuple[str, re.Pattern, Callable[..., Any], Needs]
ROUTES: list[Route] = []


def anyone(m: dict, p: dict) -> list[Need]:
    """`user => 'all'`: no check (list endpoints filter their entries by privilege instead)."""
    return []


def perm(path: str, *privs: str) -> Needs:
    """`check => ['perm', PATH, [PRIVS], any => 1]`; PATH's {fields} come from the URL or parameters."""
    return lambda m, p: [(path.format(**{**p, **m}), privs)]


MAPPING_SEE = ("Mapping.Audit", "Mapping.Use", "Mapping.Modify")
STORAGE_SEE = ("Datastore.Audit", "Datastore.AllocateSpace")


def route(method: str, pattern: str, need: Needs) -> Callable:
    def register(func: Callable) -> Callable:
        ROUTES.append((method, re.compile(f"^{pattern}$"), func, need))
        return func
    return register


# ---- access -----------------------------------------------------------------------------------

@route("GET", "/access/permissions", anyone)
def permissions(w: World, m, p, token) -> dict:
    """The caller's effective privileges, path -> {privilege: propagate}; the simulator grants on /."""
    return {p.get("path", "/"): {priv: 1 for priv in sorted(w.grants[token])}}


# ---- cluster ----------------------------------------------------------------------------------

@route("GET", "/version", anyone)
def version(w: World, m, p, token) -> dict:
    return {"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a"}


@route("GET", "/nodes", anyone)
def nodes(w: World, m, p, token) -> list:
    """Every node is listed; its cpu and memory figures only with Sys.Audit on /nodes/{node}."""
    return [{"node": n, "status": d["status"], "type": "node",
             **({"maxcpu": d.get("maxcpu", 64), "maxmem": d.get("maxmem", 96 * GIB)}
                if w.may(token, "Sys.Audit") else {})} for n, d in w.nodes.items()]


def _vm_resource(node: str, vmid: int, vm: dict) -> dict:
    cfg = vm["config"]
    return {"id": f"qemu/{vmid}", "type": "qemu", "vmid": vmid, "name": vm.get("name", f"VM {vmid}"),
            "node": node, "status": vm["status"], "template": int(vm.get("template", 0)),
            "maxcpu": int(cfg.get("cores", 1)), "maxmem": int(cfg.get("memory", 2048)) * 1024**2,
            **({"lock": vm["lock"]} if vm.get("lock") else {})}


@route("GET", "/cluster/resources", anyone)
def resources(w: World, m, p, token) -> list:
    """Lists only what the token may audit: VMs with VM.Audit, nodes with Sys.Audit."""
    vms = [_vm_resource(n, i, vm) for n, d in w.nodes.items() for i, vm in d["vms"].items()
           if w.may(token, "VM.Audit")]
    if p.get("type") == "vm":
        return vms
    return vms + [{"id": f"node/{n}", "type": "node", "node": n, "status": d["status"]}
                  for n, d in w.nodes.items() if w.may(token, "Sys.Audit")]


@route("GET", "/cluster/nextid", anyone)
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


@route("GET", "/cluster/mapping/pci", anyone)
def mappings(w: World, m, p, token) -> list:
    """Only mappings the token may see (Mapping.Audit, .Use or .Modify); none is a 403."""
    return [{"id": k, "map": v, "description": "", "checks": []} for k, v in w.mappings.items()
            if w.may(token, *MAPPING_SEE)]


@route("POST", "/cluster/mapping/pci", perm("/mapping/pci", "Mapping.Modify"))
def mapping_create(w: World, m, p, token) -> None:
    ident = p["id"]
    if ident in w.mappings:
        raise ApiError(500, f"pci ID '{ident}' already defined")
    w.mappings[ident] = _as_list(p.get("map"))


@route("GET", "/cluster/mapping/pci/(?P<id>[^/]+)", perm("/mapping/pci/{id}", *MAPPING_SEE))
def mapping_get(w: World, m, p, token) -> dict:
    if m["id"] not in w.mappings:
        raise ApiError(500, f"PCI mapping '{m['id']}' not found")
    return {"id": m["id"], "map": w.mappings[m["id"]], "type": "pci"}


@route("PUT", "/cluster/mapping/pci/(?P<id>[^/]+)", perm("/mapping/pci/{id}", "Mapping.Modify"))
def mapping_set(w: World, m, p, token) -> None:
    mapping_get(w, m, p, token)
    w.mappings[m["id"]] = _as_list(p.get("map"))


@route("DELETE", "/cluster/mapping/pci/(?P<id>[^/]+)", perm("/mapping/pci", "Mapping.Modify"))
def mapping_delete(w: World, m, p, token) -> None:
    mapping_get(w, m, p, token)
    del w.mappings[m["id"]]


def _storage_entry(name: str, st: dict) -> dict:
    return {"storage": name, "type": st.get("type", "dir"), "content": st.get("content", ""),
            **({"path": st["path"]} if "path" in st else {})}


@route("GET", "/storage", anyone)
def storage_list(w: World, m, p, token) -> list:
    """Like Proxmox: lists the storages with Datastore.Audit or .AllocateSpace; GET /storage/{id}
    needs Datastore.Allocate."""
    seen: dict[str, dict] = {}
    for node in w.nodes.values():
        for name, st in (node.get("storage") or {}).items():
            seen.setdefault(name, _storage_entry(name, st))
    return [entry for entry in seen.values() if w.may(token, *STORAGE_SEE)]


@route("GET", "/storage/(?P<s>[^/]+)", perm("/storage/{s}", "Datastore.Allocate"))
def storage_config(w: World, m, p, token) -> dict:
    for node in w.nodes.values():
        st = (node.get("storage") or {}).get(m["s"])
        if st is not None:
            return _storage_entry(m["s"], st)
    raise ApiError(500, f"storage '{m['s']}' does not exist")


# ---- node -------------------------------------------------------------------------------------

@route("GET", "/nodes/(?P<n>[^/]+)/hardware/pci", perm("/", "Sys.Audit", "Sys.Modify"))
def pci(w: World, m, p, token) -> list:
    return list(w.node(m["n"]).get("pci") or [])


def _storage(w: World, node: str, name: str) -> dict:
    st = (w.node(node).get("storage") or {}).get(name)
    if st is None:
        raise ApiError(500, f"storage '{name}' does not exist")
    return st


@route("GET", "/nodes/(?P<n>[^/]+)/storage", anyone)
def storages(w: World, m, p, token) -> list:
    return [storage_status(w, {"n": m["n"], "s": s}, p, token) | {"storage": s}
            for s in (w.node(m["n"]).get("storage") or {}) if w.may(token, *STORAGE_SEE)]


@route("GET", "/nodes/(?P<n>[^/]+)/storage/(?P<s>[^/]+)/status", perm("/storage/{s}", *STORAGE_SEE))
def storage_status(w: World, m, p, token) -> dict:
    st = _storage(w, m["n"], m["s"])
    total, avail = int(st.get("total", 0)), int(st.get("avail", 0))
    return {"type": st.get("type", "dir"), "content": st.get("content", ""), "total": total,
            "avail": avail, "used": total - avail, "active": 1, "enabled": 1, "shared": 0}


@route("GET", "/nodes/(?P<n>[^/]+)/storage/(?P<s>[^/]+)/content", perm("/storage/{s}", *STORAGE_SEE))
def storage_content(w: World, m, p, token) -> list:
    st = _storage(w, m["n"], m["s"])
    out = []
    for volid in st.get("volumes") or []:
        kind = volid.split(":", 1)[1].split("/", 1)[0] if "/" in volid else "images"
        out.append({"volid": volid, "content": kind, "size": 600 * 1024**2, "format": "raw"})
    return out


@route("GET", "/nodes/(?P<n>[^/]+)/tasks/(?P<upid>[^/]+)/status", anyone)
def task_status(w: World, m, p, token) -> dict:
    if m["upid"] not in w.tasks:
        raise ApiError(500, f"no such task '{m['upid']}'")
    return w.tasks[m["upid"]]


@route("GET", "/nodes/(?P<n>[^/]+)/tasks/(?P<upid>[^/]+)/log", anyone)
def task_log(w: World, m, p, token) -> list:
    task = task_status(w, m, p, token)
    return [{"n": 1, "t": f"TASK {'OK' if task['exitstatus'] == 'OK' else 'ERROR: ' + task['exitstatus']}"}]


# ---- qemu -------------------------------------------------------------------------------------

def _check_hostpci(cfg: dict, token: str) -> None:
    """A token never counts as root@pam: raw PCI devices need a mapping (qemu-server)."""
    for key, value in cfg.items():
        if key.startswith("hostpci") and not str(value).startswith("mapping="):
            raise ApiError(500, f"only root can set '{key}' config for non-mapped devices")


# qemu-server's check_vm_modify_config_perm: which VM.Config.* privilege an option needs
# (anything not listed is VM.Config.Options: name, agent, bios, ostype, tags, onboot, ...)
_OPTION_PRIVS = [
    (re.compile(r"cores|cpu|sockets|vcpus|cpulimit|cpuunits|affinity|numa\d*"), "VM.Config.CPU"),
    (re.compile(r"memory|balloon|shares"), "VM.Config.Memory"),
    (re.compile(r"machine|acpi|kvm|scsihw|vga|tablet|hotplug|watchdog|smbios1|(hostpci|usb|serial|audio)\d+"),
     "VM.Config.HWType"),
    (re.compile(r"(scsi|virtio|sata|efidisk|tpmstate|unused)\d+|boot|bootdisk"), "VM.Config.Disk"),
    (re.compile(r"ide\d+"), "VM.Config.CDROM"),
    (re.compile(r"net\d+"), "VM.Config.Network"),
    (re.compile(r"ipconfig\d+|cicustom|ciuser|cipassword|citype|ciupgrade|sshkeys|nameserver|searchdomain"),
     "VM.Config.Cloudinit"),
]
_NOT_OPTIONS = {"vmid", "node", "delete", "digest", "start"}


def _option_needs(vmid: str, key: str, value: str) -> list[Need]:
    """One option's checks: its VM.Config.* on the VM, and what it refers to (mapping, bridge, storage)."""
    priv = next((priv for pattern, priv in _OPTION_PRIVS if pattern.fullmatch(key)), "VM.Config.Options")
    needs: list[Need] = [(f"/vms/{vmid}", (priv,))]
    fields = dict(f.split("=", 1) for f in value.split(",") if "=" in f)
    if key.startswith("hostpci") and "mapping" in fields:
        needs.append((f"/mapping/pci/{fields['mapping']}", ("Mapping.Use",)))
    elif key.startswith("net") and "bridge" in fields:
        needs.append((f"/sdn/zones/localnetwork/{fields['bridge']}", ("SDN.Use",)))
    elif priv == "VM.Config.Disk" and ":" in value.split(",")[0]:
        needs.append((f"/storage/{value.split(':', 1)[0]}", ("Datastore.AllocateSpace",)))
    return needs


def config_needs(m: dict, p: dict) -> list[Need]:
    return [need for key in sorted(p) if key not in _NOT_OPTIONS
            for need in _option_needs(m["id"], key, str(p[key]))]


def create_needs(m: dict, p: dict) -> list[Need]:
    """VM.Allocate on the new VM first, then every option as a config change would check it."""
    return [(f"/vms/{p.get('vmid')}", ("VM.Allocate",)), *config_needs({"id": p.get("vmid")}, p)]


@route("GET", "/nodes/(?P<n>[^/]+)/qemu", anyone)
def qemu_list(w: World, m, p, token) -> list:
    return [_vm_resource(m["n"], i, vm) for i, vm in w.node(m["n"])["vms"].items()
            if w.may(token, "VM.Audit")]


@route("POST", "/nodes/(?P<n>[^/]+)/qemu", create_needs)
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


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config", perm("/vms/{id}", "VM.Audit"))
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


@route("PUT", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config", config_needs)
def qemu_config_put(w: World, m, p, token) -> None:
    _set_config(w, m, p, token)


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/config", config_needs)
def qemu_config_post(w: World, m, p, token) -> str:
    _set_config(w, m, p, token)
    return w.task(m["n"], "qmconfig", m["id"])


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/current", perm("/vms/{id}", "VM.Audit"))
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


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/start", perm("/vms/{id}", "VM.PowerMgmt"))
def qemu_start(w: World, m, p, token) -> str:
    return _start(w, m["n"], int(m["id"]))


@route("POST", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/status/(?P<op>stop|shutdown)",
       perm("/vms/{id}", "VM.PowerMgmt"))
def qemu_stop(w: World, m, p, token) -> str:
    w.vm(m["n"], int(m["id"]))["status"] = "stopped"
    return w.task(m["n"], f"qm{m['op']}", m["id"])


@route("DELETE", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)", perm("/vms/{id}", "VM.Allocate"))
def qemu_delete(w: World, m, p, token) -> str:
    vmid = int(m["id"])
    vm = w.vm(m["n"], vmid)
    if vm["status"] == "running":
        raise ApiError(500, f"VM {vmid} is running - destroy failed")
    del w.nodes[m["n"]]["vms"][vmid]
    return w.task(m["n"], "qmdestroy", vmid)


@route("GET", "/nodes/(?P<n>[^/]+)/qemu/(?P<id>\\d+)/agent/network-get-interfaces",
       perm("/vms/{id}", "VM.Monitor"))  # VM.GuestAgent.Audit from Proxmox VE 9
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
