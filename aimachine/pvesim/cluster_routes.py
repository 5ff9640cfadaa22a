"""Cluster-wide routes: access, version, nodes, resources, next id, PCI mappings, pools, storage
configuration. Return shapes follow the `returns` of the official schema (aimachine/pvesim/api-schema/);
error texts are PVE's own (pve-cluster PVE::API2::Cluster::Mapping::PCI, pve-manager)."""

from __future__ import annotations

from aimachine.pvesim import qemu_config as qc
from aimachine.pvesim.routes import route
from aimachine.pvesim.state import ApiError, World

GIB = 1024**3
MAPPING_SEE = ("Mapping.Audit", "Mapping.Use", "Mapping.Modify")
STORAGE_SEE = ("Datastore.Audit", "Datastore.AllocateSpace")
RELEASES = {"8.4": ("8.4.1", "2a5fa54a"), "9.1": ("9.1.1", "42db4a6c")}


@route("GET", "/access/permissions")
def permissions(w: World, m, p, token) -> dict:
    """The caller's effective privileges, path -> {privilege: propagate}: every path with an ACL entry,
    or only `path`."""
    if p.get("path"):
        held = w.access.privileges(token, p["path"])
        return {p["path"]: {priv: int(prop) for priv, prop in sorted(held.items())}}
    return w.access.tree(token)


@route("GET", "/version")
def version(w: World, m, p, token) -> dict:
    full, repoid = RELEASES.get(w.version, (f"{w.version}.0", "00000000"))
    return {"version": full, "release": w.version, "repoid": repoid}


@route("GET", "/nodes")
def nodes(w: World, m, p, token) -> list:
    """Every node is listed; its cpu and memory figures only with Sys.Audit on /nodes/{node}."""
    return [{"node": n, "status": d["status"], "type": "node", "id": f"node/{n}",
             **({"maxcpu": d.get("maxcpu", 64), "maxmem": d.get("maxmem", 96 * GIB)}
                if w.may(token, f"/nodes/{n}", "Sys.Audit") else {})} for n, d in w.nodes.items()]


def vm_resource(node: str, vmid: int, vm: dict) -> dict:
    cfg = vm["config"]
    return {"id": f"qemu/{vmid}", "type": "qemu", "vmid": vmid, "name": vm.get("name", f"VM {vmid}"),
            "node": node, "status": vm["status"], "template": int(vm.get("template", 0)),
            "maxcpu": int(cfg.get("cores", 1)), "maxmem": int(cfg.get("memory", 2048)) * 1024**2,
            **({"lock": vm["lock"]} if vm.get("lock") else {})}


def ct_resource(node: str, vmid: int, ct: dict) -> dict:
    """A container: `type=vm` lists LXC guests too (cluster/resources' `type` enum: vm = qemu + lxc)."""
    return {"id": f"lxc/{vmid}", "type": "lxc", "vmid": vmid, "name": ct.get("name", f"CT{vmid}"),
            "node": node, "status": ct.get("status", "stopped"), "template": 0,
            "maxcpu": int(ct.get("cores", 1)), "maxmem": int(ct.get("memory", 512)) * 1024**2}


@route("GET", "/cluster/resources")
def resources(w: World, m, p, token) -> list:
    """Lists only what the token may audit: VMs with VM.Audit, nodes with Sys.Audit."""
    w.tick()
    vms = [vm_resource(n, i, vm) for n, d in w.nodes.items() for i, vm in d["vms"].items()
           if w.may(token, f"/vms/{i}", "VM.Audit")]
    vms += [ct_resource(n, i, ct) for n, d in w.nodes.items() for i, ct in (d.get("containers") or {}).items()
            if w.may(token, f"/vms/{i}", "VM.Audit")]
    if p.get("type") == "vm":
        return vms
    return vms + [{"id": f"node/{n}", "type": "node", "node": n, "status": d["status"]}
                  for n, d in w.nodes.items() if w.may(token, f"/nodes/{n}", "Sys.Audit")]


@route("GET", "/cluster/nextid")
def nextid(w: World, m, p, token) -> int:
    """Says whether an id is taken whatever the caller may see (VMs and containers alike)."""
    if "vmid" in p:
        vmid = int(p["vmid"])
        if w.find_vm(vmid) or w.find_ct(vmid):
            raise ApiError(400, "Parameter verification failed.", {"vmid": f"VM {vmid} already exists"})
        return vmid
    vmid = 100
    while w.find_vm(vmid) or w.find_ct(vmid):
        vmid += 1
    return vmid


# ---- PCI mappings -----------------------------------------------------------------------------

def _mapping_checks(w: World, ident: str, node: str) -> list[dict]:
    """What PVE reports for a mapping on `node` (check-node): a path the node lacks, or an entry whose
    id or IOMMU group differs from the device's, is an error (the message wording is the simulator's)."""
    devices = {d["id"].rsplit(".", 1)[0]: d for d in w.node(node).get("pci") or []
               if d["id"].endswith(".0")}
    out = []
    for entry in w.mappings[ident]["map"]:
        fields = dict(qc.split_prop(entry)[1])
        if fields.get("node") != node:
            continue
        dev = devices.get(fields.get("path", ""))
        if dev is None:
            out.append({"severity": "error", "message": f"PCI device '{fields.get('path')}' does not exist"})
            continue
        ids = f"{dev['vendor'].removeprefix('0x')}:{dev['device'].removeprefix('0x')}"
        if fields.get("id") and fields["id"] != ids:
            out.append({"severity": "error",
                        "message": f"wrong id for {fields['path']}: {fields['id']} != {ids}"})
        if "iommugroup" in fields and int(fields["iommugroup"]) != int(dev.get("iommugroup", -1)):
            out.append({"severity": "error", "message": f"IOMMU group of {fields['path']} is "
                        f"{dev.get('iommugroup')}, not {fields['iommugroup']}"})
    return out


@route("GET", "/cluster/mapping/pci")
def mappings(w: World, m, p, token) -> list:
    """Only mappings the token may see (Mapping.Audit, .Use or .Modify); `checks` only with check-node."""
    out = []
    for ident, entry in w.mappings.items():
        if not w.may(token, f"/mapping/pci/{ident}", *MAPPING_SEE):
            continue
        item = {"id": ident, "map": list(entry["map"]), "description": entry.get("description", "")}
        if p.get("check-node"):
            item["checks"] = _mapping_checks(w, ident, p["check-node"])
        out.append(item)
    return out


@route("POST", "/cluster/mapping/pci")
def mapping_create(w: World, m, p, token) -> None:
    ident = p["id"]
    if ident in w.mappings:
        raise ApiError(500, f"pci ID '{ident}' already defined")
    w.mappings[ident] = {"map": _as_list(p.get("map")),
                         **({"description": p["description"]} if p.get("description") else {})}


def _mapping(w: World, ident: str) -> dict:
    if ident not in w.mappings:
        raise ApiError(500, f"mapping '{ident}' not found")
    return w.mappings[ident]


@route("GET", "/cluster/mapping/pci/{id}")
def mapping_get(w: World, m, p, token) -> dict:
    entry = _mapping(w, m["id"])
    return {"type": "pci", "map": list(entry["map"]), "digest": "0" * 40,
            **({"description": entry["description"]} if entry.get("description") else {})}


@route("PUT", "/cluster/mapping/pci/{id}")
def mapping_set(w: World, m, p, token) -> None:
    entry = _mapping(w, m["id"])
    for key in (k for k in str(p.get("delete", "")).split(",") if k):
        entry.pop(key, None)
    if "map" in p:
        entry["map"] = _as_list(p["map"])
    if "description" in p:
        entry["description"] = p["description"]


@route("DELETE", "/cluster/mapping/pci/{id}")
def mapping_delete(w: World, m, p, token) -> None:
    """PVE deletes without asking whether a VM uses it, and is silent when it is already gone."""
    w.mappings.pop(m["id"], None)


# ---- pools ------------------------------------------------------------------------------------

@route("GET", "/pools")
def pools(w: World, m, p, token) -> list:
    """Pools the token may audit (Pool.Audit); with poolid, that pool with its members."""
    if p.get("poolid"):
        if p["poolid"] not in w.pools or not w.may(token, f"/pool/{p['poolid']}", "Pool.Audit"):
            raise ApiError(500, f"pool '{p['poolid']}' does not exist")
        pool = w.pools[p["poolid"]]
        return [{"poolid": p["poolid"], "comment": pool.get("comment", ""),
                 "members": list(pool.get("members") or [])}]
    return [{"poolid": k, "comment": v.get("comment", "")} for k, v in w.pools.items()
            if w.may(token, f"/pool/{k}", "Pool.Audit")]


# ---- storage configuration --------------------------------------------------------------------

def storage_entry(name: str, st: dict) -> dict:
    return {"storage": name, "type": st.get("type", "dir"), "content": st.get("content", ""),
            "digest": "0" * 40, **({"path": st["path"]} if "path" in st else {})}


@route("GET", "/storage")
def storage_list(w: World, m, p, token) -> list:
    """Like Proxmox: lists the storages with Datastore.Audit or .AllocateSpace; GET /storage/{id}
    needs Datastore.Allocate."""
    seen: dict[str, dict] = {}
    for node in w.nodes.values():
        for name, st in (node.get("storage") or {}).items():
            seen.setdefault(name, storage_entry(name, st))
    return [entry for name, entry in seen.items() if w.may(token, f"/storage/{name}", *STORAGE_SEE)]


@route("GET", "/storage/{storage}")
def storage_config(w: World, m, p, token) -> dict:
    for node in w.nodes.values():
        st = (node.get("storage") or {}).get(m["storage"])
        if st is not None:
            return storage_entry(m["storage"], st)
    raise ApiError(500, f"storage '{m['storage']}' does not exist")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
