"""Node routes: status, PCI hardware, network, storages and their volumes, tasks. Shapes follow the
official schema's `returns` (aimachine/pvesim/api-schema/)."""

from __future__ import annotations

import time

from aimachine.pvesim import qemu_config as qc
from aimachine.pvesim.cluster_routes import GIB, STORAGE_SEE
from aimachine.pvesim.routes import route
from aimachine.pvesim.state import ApiError, World

# `hardware/pci` hides these classes unless pci-class-blacklist says otherwise (schema default "05;06;0b").
PCI_CLASS_BLACKLIST = "05;06;0b"


@route("GET", "/nodes/{node}/status")
def node_status(w: World, m, p, token) -> dict:
    node = w.node(m["node"])
    return {"cpuinfo": {"cpus": node.get("maxcpu", 64), "model": "simulated"},
            "memory": {"total": node.get("maxmem", 96 * GIB), "used": 0,
                       "free": node.get("maxmem", 96 * GIB)},
            "pveversion": f"pve-manager/{w.version}", "uptime": 3600}


@route("GET", "/nodes/{node}/hardware/pci")
def pci(w: World, m, p, token) -> list:
    devices = list(w.node(m["node"]).get("pci") or [])
    hidden = str(p.get("pci-class-blacklist", PCI_CLASS_BLACKLIST))
    prefixes = tuple(c for c in hidden.split(";") if c)
    if p.get("verbose", "1") in (0, "0"):
        devices = [{k: d[k] for k in ("id", "class", "vendor", "device", "iommugroup") if k in d}
                   for d in devices]
    return [d for d in devices if not (prefixes and str(d.get("class", "")).removeprefix("0x")
                                       .startswith(prefixes))]


@route("GET", "/nodes/{node}/network")
def network(w: World, m, p, token) -> list:
    """The node's interfaces; `address` is where the provider's SSH client reaches the node."""
    node = w.node(m["node"])
    ifaces = node.get("network") or [{"iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1,
                                      "address": node.get("address", "127.0.0.1"), "netmask": "8",
                                      "cidr": f"{node.get('address', '127.0.0.1')}/8",
                                      "bridge_ports": "eno1", "families": ["inet"]}]
    return [i for i in ifaces if not p.get("type") or i.get("type") == p["type"]]


@route("GET", "/nodes/{node}/storage")
def storages(w: World, m, p, token) -> list:
    return [storage_status(w, {"node": m["node"], "storage": s}, {}, token) | {"storage": s}
            for s in (w.node(m["node"]).get("storage") or {}) if w.may(token, f"/storage/{s}", *STORAGE_SEE)
            and (not p.get("content") or p["content"] in str(w.storage(m["node"], s).get("content")))]


@route("GET", "/nodes/{node}/storage/{storage}/status")
def storage_status(w: World, m, p, token) -> dict:
    st = w.storage(m["node"], m["storage"])
    total = int(st.get("total", 0))
    avail = int(st.get("avail", 0)) - sum(v["size"] for v in st["volumes"] if v.get("allocated"))
    return {"type": st.get("type", "dir"), "content": st.get("content", ""), "total": total,
            "avail": avail, "used": total - avail, "active": 1, "enabled": 1, "shared": 0}


def _kind(volid: str) -> str:
    rest = volid.split(":", 1)[1]
    return rest.split("/", 1)[0] if "/" in rest else "images"


def _volume_info(volume: dict) -> dict:
    return {"volid": volume["volid"], "content": _kind(volume["volid"]), "size": volume["size"],
            "format": volume["format"], "ctime": int(time.time()),
            **({"vmid": volume["vmid"]} if volume.get("vmid") else {})}


@route("GET", "/nodes/{node}/storage/{storage}/content")
def storage_content(w: World, m, p, token) -> list:
    st = w.storage(m["node"], m["storage"])
    return [_volume_info(v) for v in st["volumes"]
            if (not p.get("content") or _kind(v["volid"]) == p["content"])
            and (not p.get("vmid") or str(v.get("vmid")) == str(p["vmid"]))]


def _volume_read(m: dict, p: dict) -> list:
    """'You need read access for the volume' (pve-storage check_volume_access): Audit or AllocateSpace."""
    return [(f"/storage/{m['storage']}", STORAGE_SEE)]


def _allocate_needs(m: dict, p: dict) -> list:
    """pve-storage's alloc: Datastore.AllocateSpace on the storage, and VM.Config.Disk on the VM."""
    return [(f"/storage/{m['storage']}", ("Datastore.AllocateSpace",)),
            (f"/vms/{p.get('vmid')}", ("VM.Config.Disk",))]


@route("POST", "/nodes/{node}/storage/{storage}/content", _allocate_needs)
def volume_allocate(w: World, m, p, token) -> str:
    """Allocate a volume (`pvesm alloc`, and what `qm disk import` does first); returns its volid."""
    st = w.storage(m["node"], m["storage"])
    volid = f"{m['storage']}:{p['filename']}"
    if any(v["volid"] == volid for v in st["volumes"]):
        raise ApiError(500, f"volume '{volid}' already exists")
    size = qc.parse_size(str(p["size"]).upper().removesuffix("B")) if not str(p["size"]).isdigit() \
        else int(p["size"]) * 1024  # a bare number is KiB, as pvesm alloc takes it
    st["volumes"].append({"volid": volid, "size": size, "format": p.get("format", "raw"),
                          "vmid": int(p["vmid"]), "allocated": True})
    return volid


@route("GET", "/nodes/{node}/storage/{storage}/content/{volume}", _volume_read)
def volume_attributes(w: World, m, p, token) -> dict:
    volid = m["volume"] if ":" in m["volume"] else f"{m['storage']}:{m['volume']}"
    store = volid.split(":", 1)[0]
    st = w.storage(m["node"], store)
    volume = next((v for v in st["volumes"] if v["volid"] == volid), None)
    if volume is None:
        raise ApiError(500, f"volume '{volid}' does not exist")
    base = st.get("path", "/dev/zvol/rpool/data" if st.get("type") == "zfspool" else "/var/lib/vz")
    return {"format": volume["format"], "size": volume["size"], "used": volume["size"],
            "path": f"{base}/{volid.split(':', 1)[1]}"}


# ---- tasks ------------------------------------------------------------------------------------

def _task(w: World, upid: str):
    w.tick()
    if upid not in w.tasks:
        raise ApiError(500, f"no such task '{upid}'")
    return w.tasks[upid]


@route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(w: World, m, p, token) -> dict:
    return _task(w, m["upid"]).status(time.time())


@route("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(w: World, m, p, token) -> list:
    task = _task(w, m["upid"])
    lines = task.log if time.time() >= task.ends else task.log[:-1]
    return [{"n": n, "t": text} for n, text in enumerate(lines, 1)]
