"""Host facts for every branch of preflight's rules, and the verdicts rendered as preflight prints them.

The facts start from the simulator's healthy host (tests/pve_sim/fixture.healthy_state: shapes from
the official API schema) and change one thing each. The rendered verdicts are a golden file
(tests/golden/preflight-verdicts.txt), reviewed by eye once: every message and remedy an admin reads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from aimachine.catalog.schema import Catalog, load_catalog
from aimachine.proxmox import preflight as pf
from aimachine.proxmox.api import ApiError
from aimachine.pvesim.access import PVE8_PRIVILEGES
from tests.pve_sim.fixture import healthy_state

NODE = "android-19"
TOKEN_ID = "aimachine@pve!deploy"
MIB = 1024**2


def base_facts() -> pf.HostFacts:
    state = healthy_state()
    node = state["nodes"][NODE]
    vms = [{"vmid": i, "name": v["name"], "node": NODE, "status": v["status"], "type": "qemu",
            "maxmem": v["config"].get("memory", 0) * MIB} for i, v in node["vms"].items()]
    return pf.HostFacts(
        node=NODE, token_id=TOKEN_ID, pve_version="8.4.1",
        permissions={"/": dict.fromkeys(PVE8_PRIVILEGES, 1)},
        nodes=[{"node": NODE, "status": "online", "maxcpu": node["maxcpu"], "maxmem": node["maxmem"]}],
        vms=vms, configs={i: v["config"] for i, v in node["vms"].items()}, pci=copy.deepcopy(node["pci"]),
        storages={k: {"content": v["content"], "avail": v["avail"], "total": v["total"]}
                  for k, v in node["storage"].items()},
        image_volumes=["local:iso/noble-server-cloudimg-amd64.img"],
        mappings=[{"id": k, "map": v["map"]} for k, v in state["mappings"]["pci"].items()],
        vmid_taken=False)


Change = Callable[[pf.HostFacts], None]


def _pci(facts: pf.HostFacts, ident: str) -> dict:
    return next(d for d in facts.pci if d["id"] == ident)


def _holder(status: str, entry: str, node: str = NODE, vmid: int = 120, name: str = "gaming") -> Change:
    """VM `vmid` passing `entry` through as hostpci1, after options that sort before it."""
    def change(f: pf.HostFacts) -> None:
        f.vms = [v for v in f.vms if v["vmid"] != vmid] + [
            {"vmid": vmid, "name": name, "node": node, "status": status, "type": "qemu", "maxmem": 0}]
        f.configs[vmid] = {"agent": "1", "cores": 8, "hostpci0": "0000:05:00.0", "hostpci1": entry}
    return change


def _both(*changes: Change) -> Change:
    def change(f: pf.HostFacts) -> None:
        for one in changes:
            one(f)
    return change


def _storage(name: str, **values: object) -> Change:
    return lambda f: f.storages[name].update(values)


def _denied(name: str) -> Change:
    def change(f: pf.HostFacts) -> None:
        f.storages.pop(name, None)
        f.errors[f"storage {name}"] = f"Permission check failed (/storage/{name}, Datastore.Audit)"
    return change


def _without(*privs: str, path: str = "/") -> Change:
    def change(f: pf.HostFacts) -> None:
        f.permissions = {path: {p: 1 for p in PVE8_PRIVILEGES if p not in privs}}
    return change


SCENARIOS: dict[str, Change] = {
    "healthy (a stopped VM shares the GPU)": lambda f: None,
    "healthy, nothing else passes the GPU through": lambda f: f.configs.update({120: {}}),
    "privileges unreadable": lambda f: (setattr(f, "permissions", None),
                                        f.errors.update(permissions="Permission check failed (/access)")),
    "privileges: no answer at all": lambda f: setattr(f, "permissions", None),
    "privileges: VM.Monitor and both Sys.Audit and Sys.Modify missing": _without("VM.Monitor", "Sys.Audit",
                                                                               "Sys.Modify"),
    "privileges: Sys.Modify stands in for Sys.Audit": _without("Sys.Audit"),
    "privileges: one missing": _without("VM.Monitor"),
    "token sees only some VMs": lambda f: (_without("VM.Audit")(f), f.permissions.update(
        {"/vms/140": dict.fromkeys(PVE8_PRIVILEGES, 1)}), f.configs.update({120: {}})),
    "node not in the cluster": lambda f: setattr(f, "nodes", [{"node": "pve2", "status": "online"}]),
    "no node at all": lambda f: setattr(f, "nodes", []),
    "node offline": lambda f: f.nodes[0].update(status="offline"),
    "node without status": lambda f: f.nodes[0].pop("status"),
    "vmid hidden from the token": lambda f: setattr(f, "vmid_taken", True),
    "vmid held by a container": lambda f: f.vms.append(
        {"vmid": 140, "name": "dns", "node": NODE, "status": "running", "type": "lxc"}),
    "vmid held by this VM (a re-run)": lambda f: f.vms.append(
        {"vmid": 140, "name": "vm-llm-aimachine", "node": NODE, "status": "running", "type": "qemu",
         "maxmem": 51200 * MIB}),
    "vmid held by another VM, 141 taken too": lambda f: f.vms.extend([
        {"vmid": 140, "name": "database", "node": NODE, "status": "stopped", "type": "qemu"},
        {"vmid": 141, "name": "backup", "node": NODE, "status": "stopped", "type": "qemu"}]),
    "PCI list unreadable": lambda f: (setattr(f, "pci", []), f.errors.update(pci="Permission check failed")),
    "GPU missing, another NVIDIA card elsewhere": lambda f: setattr(f, "pci", [
        d for d in f.pci if not d["id"].startswith("0000:01:")] + [
        {"id": "0000:03:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2684",
         "iommugroup": 20}]),
    "GPU missing, no NVIDIA device": lambda f: setattr(f, "pci", [
        d for d in f.pci if not d["id"].startswith("0000:01:")]),
    "wrong vendor:device at the address": lambda f: _pci(f, "0000:01:00.0").update(device="0x2d05"),
    "a single function at the address": lambda f: setattr(f, "pci", [
        d for d in f.pci if d["id"] != "0000:01:00.1"]),
    "IOMMU off": lambda f: [d.update(iommugroup=-1) for d in f.pci],
    "IOMMU group shared with the NVMe": lambda f: _pci(f, "0000:02:00.0").update(iommugroup=14),
    "GPU held by a running VM (mapping)": _holder("running", "mapping=rtx5060ti,pcie=1"),
    "GPU held by a running VM (raw, two functions)": _holder("running",
                                                             "host=0000:01:00.0;0000:01:00.1,pcie=1"),
    "GPU held by a running VM (raw, short address)": _holder("running", "01:00.0,pcie=1,x-vga=1"),
    "another mapping of the GPU, running": lambda f: (
        f.mappings.append({"id": "gpu-by-hand", "map": [f"node={NODE},path=0000:01:00.0,id=10de:2d04"]}),
        _holder("running", "mapping=gpu-by-hand")(f)),
    "a running VM on another node holds the address": _holder("running", "0000:01:00.0", node="pve2"),
    "GPU held by a running VM (raw, one function)": _holder("running", "host=0000:01:00.0"),
    "GPU held after our own id and another node's VM": lambda f: (
        f.vms.insert(0, {"vmid": 140, "name": "vm-llm-aimachine", "node": NODE, "status": "running",
                         "type": "qemu", "maxmem": 0}),
        f.configs.update({140: {"hostpci0": "mapping=rtx5060ti"}}),
        _holder("running", "0000:01:00.0", node="pve2", vmid=110, name="elsewhere")(f),
        f.vms.append(f.vms.pop(next(i for i, v in enumerate(f.vms) if v["vmid"] == 120))),
        f.vms[-1].update(status="running")),
    "two stopped VMs share the GPU": _both(_holder("stopped", "mapping=rtx5060ti"),
                                          _holder("stopped", "0000:01:00.0", vmid=130, name="render")),
    "a device without an IOMMU group entry": lambda f: [d.pop("iommugroup") for d in f.pci
                                                        if d["id"].startswith("0000:01:")],
    "IOMMU group shared with two devices": lambda f: (
        _pci(f, "0000:02:00.0").update(iommugroup=14),
        f.pci.append({"id": "0000:03:00.0", "class": "0x020000", "vendor": "0x8086", "device": "0x125c",
                      "iommugroup": 14})),
    "a bridge without a class in the group": lambda f: _pci(f, "0000:00:01.0").pop("class"),
    "two NVIDIA cards elsewhere": lambda f: setattr(f, "pci", [
        d for d in f.pci if not d["id"].startswith("0000:01:")] + [
        {"id": "0000:03:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2684",
         "iommugroup": 20},
        {"id": "0000:04:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2204",
         "iommugroup": 21}]),
    "two nodes, neither ours": lambda f: setattr(f, "nodes", [{"node": "pve1", "status": "online"},
                                                              {"status": "online"}]),
    "vmid held by another VM, 141 free": lambda f: f.vms.append(
        {"vmid": 140, "name": "database", "node": NODE, "status": "stopped", "type": "qemu"}),
    "a running VM passes another device": _holder("running", "0000:05:00.0,pcie=1"),
    "root-password auth": lambda f: None,
    "mappings unreadable": lambda f: (setattr(f, "mappings", []),
                                      f.errors.update(mappings="Permission check failed (/mapping/pci)")),
    "mapping absent": lambda f: (setattr(f, "mappings", []), f.configs.update({120: {}})),
    "mapping points elsewhere": lambda f: f.mappings[0].update(
        map=[f"node={NODE},path=0000:05:00.0,id=10de:2d04", "node=pve2,path=0000:01:00.0,id=10de:2d04"]),
    "mapping with a failed check": lambda f: f.mappings[0].update(checks=[
        {"severity": "error", "message": "device '0000:01:00' not found"},
        {"severity": "warning", "message": "iommu group changed"}]),
    "disk storage unreadable": _denied("local-zfs"),
    "disk storage missing": lambda f: (f.storages.pop("local-zfs"), f.errors.update(
        {"storage local-zfs": "storage 'local-zfs' does not exist"})),
    "disk storage not listed": lambda f: f.storages.pop("local-zfs"),
    "disk storage without images": _storage("local-zfs", content="rootdir,vztmpl"),
    "disk storage too small": _storage("local-zfs", avail=100 * 1024**3),
    "disk storage exactly big enough": _storage("local-zfs", avail=500 * 1024**3),
    "snippets storage unreadable": _denied("local"),
    "snippets storage missing": lambda f: f.storages.pop("local"),
    "snippets content off": _storage("local", content="iso,vztmpl"),
    "snippets storage with no content at all": _storage("local", content=""),
    "image missing": lambda f: setattr(f, "image_volumes", ["local:iso/jammy-server-cloudimg-amd64.img"]),
    "resources unreadable": lambda f: (f.nodes[0].pop("maxcpu"), f.nodes[0].pop("maxmem")),
    "too many cores": lambda f: f.nodes[0].update(maxcpu=16),
    "too much memory": lambda f: f.nodes[0].update(maxmem=32768 * MIB),
    "exactly the node's cores and memory": lambda f: f.nodes[0].update(maxcpu=32, maxmem=51200 * MIB),
    "running VMs use most memory": lambda f: f.vms.append(
        {"vmid": 150, "name": "big", "node": NODE, "status": "running", "type": "qemu",
         "maxmem": 60000 * MIB}),
}
ROOT_PASSWORD = "root-password auth"


def catalog_for(scenario: str, cat: Catalog) -> Catalog:
    if scenario != ROOT_PASSWORD:
        return cat
    import dataclasses
    return dataclasses.replace(cat, proxmox=dataclasses.replace(cat.proxmox, auth="root-password"))


API_ERRORS = {
    "401": ApiError(401, "authentication failure"),
    "403": ApiError(403, "Permission check failed (/, Sys.Audit)"),
    "no answer": ApiError(0, "cannot reach https://192.0.2.10:8006: ConnectionError: refused"),
    "500": ApiError(500, "got no worker"),
}
SSH_AGENT = {
    "agent running": ({"SSH_AUTH_SOCK": "/run/agent.sock"}, "local:iso/noble-server-cloudimg-amd64.img"),
    "no agent, import image": ({}, "local:import/noble-server-cloudimg-amd64.qcow2"),
    "no agent, iso image": ({}, "local:iso/noble-server-cloudimg-amd64.img"),
}


def render(catalog_path: str) -> str:
    """Every scenario's verdicts, as preflight prints them, with the count of FAILs."""
    cat = load_catalog(catalog_path)
    out = []
    for name, change in SCENARIOS.items():
        facts = base_facts()
        change(facts)
        c = catalog_for(name, cat)
        findings = pf.judge(c, c.vms[0], facts)
        out += [f"## {name} ({len(pf.failed(findings))} FAIL)", *(f.line() for f in findings), ""]
    for name, err in API_ERRORS.items():
        out += [f"## API: {name}", pf.api_failure(err, "https://192.0.2.10:8006", TOKEN_ID).line(), ""]
    for name, (env, image) in SSH_AGENT.items():
        out += [f"## ssh-agent: {name}", pf.check_ssh_agent(env, image).line(), ""]
    return "\n".join(out)
