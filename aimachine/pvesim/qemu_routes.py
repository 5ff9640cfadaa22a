"""QEMU routes: list, create, config, status, power, resize, destroy, the guest agent's interfaces.
Configs are stored as qemu-server stores them (aimachine/pvesim/qemu_config.py); create, start, stop,
resize and destroy are tasks that run before they stop; a VM under a create lock refuses changes."""

from __future__ import annotations

import re
from typing import Any

from aimachine.pvesim import qemu_config as qc
from aimachine.pvesim import schema
from aimachine.pvesim.cluster_routes import vm_resource
from aimachine.pvesim.routes import Need, route
from aimachine.pvesim.state import ApiError, World

CONFIG_ROUTE = ("PUT", "/nodes/{node}/qemu/{vmid}/config")

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
_NOT_OPTIONS = {"vmid", "node", "delete", "digest", "start", "skiplock", "revert", "pool"}


def _option_needs(vmid: str, key: str, value: str) -> list[Need]:
    """One option's checks: its VM.Config.* on the VM, and what it refers to (mapping, bridge, storage)."""
    priv = next((priv for pattern, priv in _OPTION_PRIVS if pattern.fullmatch(key)), "VM.Config.Options")
    needs: list[Need] = [(f"/vms/{vmid}", (priv,))]
    fields = dict(qc.split_prop(value)[1])
    if key.startswith("hostpci") and "mapping" in fields:
        needs.append((f"/mapping/pci/{fields['mapping']}", ("Mapping.Use",)))
    elif key.startswith("net") and "bridge" in fields:
        needs.append((f"/sdn/zones/localnetwork/{fields['bridge']}", ("SDN.Use",)))
    elif qc.DISK_KEY.fullmatch(key) and ":" in value.split(",")[0]:
        needs.append((f"/storage/{value.split(':', 1)[0]}", ("Datastore.AllocateSpace",)))
    return needs


def config_needs(m: dict, p: dict) -> list[Need]:
    deleted = [k for k in str(p.get("delete", "")).split(",") if k]
    return [need for key in sorted(set(p) | set(deleted)) if key not in _NOT_OPTIONS
            for need in _option_needs(m["vmid"], key, str(p.get(key, "")))]


def create_needs(m: dict, p: dict) -> list[Need]:
    """VM.Allocate on the new VM first (qemu-server's create answers a bare 'Permission check failed'),
    then every option as a config change would check it."""
    return [(f"/vms/{p.get('vmid')}", ("VM.Allocate",), "Permission check failed"),
            *config_needs({"vmid": p.get("vmid")}, p)]


def _check_hostpci(cfg: dict) -> None:
    """A token never counts as root@pam: raw PCI devices need a mapping (qemu-server)."""
    for key, value in cfg.items():
        if key.startswith("hostpci") and not str(value).startswith("mapping="):
            raise ApiError(500, f"only root can set '{key}' config for non-mapped devices")


def _vmid(m: dict) -> int:
    return int(m["vmid"])


@route("GET", "/nodes/{node}/qemu")
def qemu_list(w: World, m, p, token) -> list:
    return [vm_resource(m["node"], i, vm) for i, vm in w.node(m["node"])["vms"].items()
            if w.may(token, f"/vms/{i}", "VM.Audit")]


def _allocator(w: World, node: str, vmid: int):
    def allocate(store: str, key: str, size: int, fmt: str) -> str:
        st = w.storage(node, store)
        if "images" not in str(st.get("content", "")) and st.get("type") != "zfspool":
            raise ApiError(500, f"storage '{store}' does not support content-type 'images'")
        taken = {v["volid"] for v in st["volumes"]}
        if key.startswith("ide"):
            volid = f"{store}:vm-{vmid}-cloudinit"
        else:
            n = 0
            while f"{store}:vm-{vmid}-disk-{n}" in taken:
                n += 1
            volid = f"{store}:vm-{vmid}-disk-{n}"
        st["volumes"].append({"volid": volid, "size": size, "format": fmt, "vmid": vmid, "allocated": True})
        return volid

    def image_size(volid: str) -> int:
        store = volid.split(":", 1)[0]
        found = next((v for v in w.storage(node, store)["volumes"] if v["volid"] == volid), None)
        if found is None:
            raise ApiError(500, f"volume '{volid}' does not exist")
        return int(found["size"])

    def storage_type(store: str) -> str:
        return str(w.storage(node, store).get("type", "dir"))

    return allocate, image_size, storage_type


def _stored(w: World, node: str, vmid: int, options: dict[str, Any]) -> dict[str, Any]:
    allocate, image_size, storage_type = _allocator(w, node, vmid)
    out = {}
    for key in sorted(options, key=lambda k: (k != "efidisk0", k)):
        value = options[key]
        if qc.DISK_KEY.fullmatch(key):
            value = qc.store_disk(vmid, key, str(value), allocate, image_size, storage_type)
        elif qc.NET_KEY.fullmatch(key):
            value = qc.store_nic(vmid, key, str(value))
        out[key] = value
    return out


@route("POST", "/nodes/{node}/qemu", create_needs)
def qemu_create(w: World, m, p, token) -> str:
    node = w.node(m["node"])
    vmid = int(p.pop("vmid"))
    if w.find_vm(vmid):
        raise ApiError(500, f"unable to create VM {vmid} - VM {vmid} already exists on node '{m['node']}'")
    _check_hostpci(p)
    start = str(p.pop("start", "0")) == "1"
    p.pop("pool", None)
    name = p.get("name", f"VM{vmid}")
    config = {**qc.identifiers(w.version), **_stored(w, m["node"], vmid, p)}
    vm = {"name": name, "status": "stopped", "config": config, "lock": "create",
          **({"agent": w.new_vms["agent"]} if w.new_vms.get("agent") else {})}
    node["vms"][vmid] = vm

    def created() -> None:
        vm.pop("lock", None)
        if start:
            _start(w, m["node"], vmid)

    return w.task(m["node"], "qmcreate", vmid, done=created)


@route("GET", "/nodes/{node}/qemu/{vmid}/config")
def qemu_config(w: World, m, p, token) -> dict:
    w.tick()
    vm = w.vm(m["node"], _vmid(m))
    route_spec = schema.spec(w.version, *CONFIG_ROUTE)
    out = {k: schema.typed(route_spec, k, v) for k, v in vm["config"].items()}
    if vm.get("lock"):
        out["lock"] = vm["lock"]
    return {**out, "digest": qc.digest(vm["config"])}


def _set_config(w: World, m, p) -> None:
    vm = w.unlocked_vm(m["node"], _vmid(m))
    deletes = [k for k in str(p.pop("delete", "")).split(",") if k]
    for key in ("digest", "skiplock", "revert"):
        p.pop(key, None)
    _check_hostpci(p)
    vm["config"].update(_stored(w, m["node"], _vmid(m), p))
    for key in deletes:
        vm["config"].pop(key, None)
    if "name" in p:
        vm["name"] = p["name"]


@route("PUT", "/nodes/{node}/qemu/{vmid}/config", config_needs)
def qemu_config_put(w: World, m, p, token) -> None:
    _set_config(w, m, p)


@route("POST", "/nodes/{node}/qemu/{vmid}/config", config_needs)
def qemu_config_post(w: World, m, p, token) -> str:
    _set_config(w, m, p)
    return w.task(m["node"], "qmconfig", m["vmid"])


@route("PUT", "/nodes/{node}/qemu/{vmid}/resize")
def qemu_resize(w: World, m, p, token) -> str:
    vm = w.unlocked_vm(m["node"], _vmid(m))
    disk = p["disk"]
    if disk not in vm["config"]:
        raise ApiError(500, f"disk '{disk}' does not exist")
    try:
        vm["config"][disk] = qc.resize(str(vm["config"][disk]), str(p["size"]), 0)
    except ValueError as err:
        raise ApiError(500, str(err)) from None
    volid, fields = qc.split_prop(vm["config"][disk])
    for volume in w.storage(m["node"], volid.split(":", 1)[0])["volumes"]:
        if volume["volid"] == volid:
            volume["size"] = qc.parse_size(dict(fields)["size"])
    return w.task(m["node"], "resize", m["vmid"])


@route("GET", "/nodes/{node}/qemu/{vmid}/status/current")
def qemu_status(w: World, m, p, token) -> dict:
    w.tick()
    vm = w.vm(m["node"], _vmid(m))
    cfg = vm["config"]
    return {"vmid": _vmid(m), "name": vm.get("name"), "status": vm["status"], "qmpstatus": vm["status"],
            "agent": 1 if str(cfg.get("agent", "0")).split(",")[0] in ("1", "enabled=1") else 0,
            "cpus": int(cfg.get("cores", 1)), "maxmem": int(cfg.get("memory", 512)) * 1024**2,
            "uptime": 60 if vm["status"] == "running" else 0, "ha": {"managed": 0},
            **({"lock": vm["lock"]} if vm.get("lock") else {})}


def _devices(cfg: dict) -> list[str]:
    return [str(v).split(",")[0] for k, v in cfg.items() if k.startswith("hostpci")]


def _mapping_paths(w: World, node: str, name: str) -> list[str]:
    paths = []
    for entry in (w.mappings.get(name) or {}).get("map", []):
        fields = dict(qc.split_prop(entry)[1])
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
                busy = f"PCI device '{dev}' already in use by VMID '{other_id}'"
                return w.task(node, "qmstart", vmid, busy)
    for dev in _devices(vm["config"]):
        name = dev.removeprefix("mapping=")
        if dev.startswith("mapping=") and not _mapping_paths(w, node, name):
            return w.task(node, "qmstart", vmid, f"cannot find mapping '{name}'")
    vm["status"] = "running"
    return w.task(node, "qmstart", vmid)


@route("POST", "/nodes/{node}/qemu/{vmid}/status/start")
def qemu_start(w: World, m, p, token) -> str:
    w.unlocked_vm(m["node"], _vmid(m))
    return _start(w, m["node"], _vmid(m))


def _power_off(w: World, m: dict, op: str) -> str:
    w.unlocked_vm(m["node"], _vmid(m))["status"] = "stopped"
    return w.task(m["node"], f"qm{op}", m["vmid"])


@route("POST", "/nodes/{node}/qemu/{vmid}/status/stop")
def qemu_stop(w: World, m, p, token) -> str:
    return _power_off(w, m, "stop")


@route("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown")
def qemu_shutdown(w: World, m, p, token) -> str:
    return _power_off(w, m, "shutdown")


@route("DELETE", "/nodes/{node}/qemu/{vmid}")
def qemu_delete(w: World, m, p, token) -> str:
    vmid = _vmid(m)
    vm = w.unlocked_vm(m["node"], vmid)
    if vm["status"] == "running":
        raise ApiError(500, f"VM {vmid} is running - destroy failed")
    del w.nodes[m["node"]]["vms"][vmid]
    for st in (w.nodes[m["node"]].get("storage") or {}).values():
        st["volumes"] = [v for v in st["volumes"] if v.get("vmid") != vmid]
    return w.task(m["node"], "qmdestroy", vmid)


@route("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces")
def agent_interfaces(w: World, m, p, token) -> dict:
    vm = w.vm(m["node"], _vmid(m))
    if not vm["config"].get("agent") or str(vm["config"]["agent"]).split(",")[0] in ("0", "enabled=0"):
        raise ApiError(500, "No QEMU guest agent configured")
    if vm["status"] != "running" or not vm.get("agent"):
        raise ApiError(500, "QEMU guest agent is not running")
    return {"result": vm["agent"].get("interfaces", [])}
