"""Stand-in for the terraform CLI subset deploy/terraform.py uses, applying the catalog to the
Proxmox VE simulator through its API, as the bpg provider would.

State lives in $FAKE_TERRAFORM_STATE/<workspace>.json. Failures on demand, from
$FAKE_TERRAFORM_FAIL (comma-separated): `apply-after-create` (the VM exists, then apply fails, as
bpg does when start fails), `destroy` (destroy fails too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests
import urllib3
import yaml

urllib3.disable_warnings()
VM, MAPPING = "proxmox_virtual_environment_vm.vm", "proxmox_hardware_mapping_pci.gpu"


class Api:
    def __init__(self) -> None:
        self.base = os.environ["PROXMOX_VE_ENDPOINT"].rstrip("/") + "/api2/json"
        self.headers = {"Authorization": "PVEAPIToken=" + os.environ["PROXMOX_VE_API_TOKEN"]}

    def call(self, method: str, path: str, **data: Any) -> Any:
        kw = {"params": data} if method in ("GET", "DELETE") else {"data": data}
        resp = requests.request(method, self.base + path, headers=self.headers, verify=False,
                                timeout=10, **kw)
        if resp.status_code >= 400:
            raise RuntimeError(f"received an HTTP {resp.status_code} response - Reason: {resp.reason}")
        return resp.json()["data"]

    def task(self, node: str, upid: str) -> None:
        for _ in range(100):
            status = self.call("GET", f"/nodes/{node}/tasks/{upid}/status")
            if status["status"] == "stopped":
                if status["exitstatus"] != "OK":
                    raise RuntimeError(f"task {upid} failed: {status['exitstatus']}")
                return
            time.sleep(0.1)


def parse(argv: list[str]) -> tuple[str, dict[str, str], list[str], set[str]]:
    cmd, variables, rest, flags = argv[0], {}, [], set()
    it = iter(argv[1:])
    for arg in it:
        if arg == "-var":
            key, _, value = next(it).partition("=")
            variables[key] = value
        elif arg.startswith("-"):
            flags.add(arg)
        else:
            rest.append(arg)
    return cmd, variables, rest, flags


def state_dir() -> Path:
    path = Path(os.environ["FAKE_TERRAFORM_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspace() -> str:
    f = state_dir() / "environment"
    return f.read_text().strip() if f.exists() else "default"


def load() -> dict:
    f = state_dir() / f"{workspace()}.json"
    return json.loads(f.read_text()) if f.exists() else {}


def save(state: dict) -> None:
    (state_dir() / f"{workspace()}.json").write_text(json.dumps(state, indent=1))


def desired(variables: dict[str, str]) -> tuple[dict, dict, dict]:
    catalog = yaml.safe_load(Path(variables["catalog_path"]).read_text())
    vm = next(v for v in catalog["vms"] if v["name"] == variables["vm_name"])
    px = catalog["proxmox"]
    node = vm.get("node") or px["node"]
    gpu = vm["gpu"]
    snippets = (px.get("storages") or {}).get("snippets", "local")
    mapping = {"id": gpu["mapping"],
               "map": f"node={node},path={gpu['pci_address']},id={gpu['vendor_device']}"}
    hostpci = (f"mapping={gpu['mapping']},pcie=1" if px.get("auth", "api-token") == "api-token"
               else f"{gpu['pci_address']},pcie=1")
    config = {"name": vm["name"], "cores": str(vm["cores"]), "cpu": vm.get("cpu", "host"),
              "memory": str(vm["memory_mb"]), "machine": "q35", "bios": "ovmf", "ostype": "l26",
              "agent": "enabled=1", "hostpci0": hostpci,
              "scsi0": f"{vm['storage']}:vm-{vm['vmid']}-disk-0,discard=on,iothread=1,size={vm['disk_gb']}G",
              "net0": f"virtio,bridge={vm.get('bridge', 'vmbr0')}",
              "ipconfig0": "ip=dhcp" if vm.get("ipv4", "dhcp") == "dhcp"
              else f"ip={vm['ipv4']},gw={vm['gateway']}",
              "cicustom": f"user={snippets}:snippets/{vm['name']}-user-data.yaml"}
    return {"vmid": vm["vmid"], "node": node}, mapping, config


def vm_drift(api: Api, target: dict, config: dict) -> bool:
    try:
        live = api.call("GET", f"/nodes/{target['node']}/qemu/{target['vmid']}/config")
    except RuntimeError:
        return True
    return any(str(live.get(k)) != v for k, v in config.items())


def plan(api: Api, variables: dict[str, str]) -> int:
    target, mapping, config = desired(variables)
    state = load()
    changes = (MAPPING not in state and mapping["id"] is not None) + (
        VM not in state or vm_drift(api, target, config))
    if not changes:
        print("No changes. Your infrastructure matches the configuration.")
        return 0
    print(f"Plan: {changes} to add, 0 to change, 0 to destroy.")
    return 2


def apply(api: Api, variables: dict[str, str]) -> int:
    target, mapping, config = desired(variables)
    node, vmid = target["node"], target["vmid"]
    fail = os.environ.get("FAKE_TERRAFORM_FAIL", "").split(",")
    state = load()
    try:
        if MAPPING not in state:
            print(f"{MAPPING}: Creating...")
            api.call("POST", "/cluster/mapping/pci", id=mapping["id"], map=mapping["map"])
            state[MAPPING] = mapping["id"]
            save(state)
        if VM in state and not vm_drift(api, target, config):
            print("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
            return 0
        if VM in state:
            print(f"{VM}: Modifying... [id={vmid}]")
            api.call("PUT", f"/nodes/{node}/qemu/{vmid}/config", **config)
        else:
            print(f"{VM}: Creating...")
            api.task(node, api.call("POST", f"/nodes/{node}/qemu", vmid=vmid, **config))
            state[VM] = target
            save(state)
            if "apply-after-create" in fail:
                raise RuntimeError("error waiting for VM start: injected failure after create")
            api.task(node, api.call("POST", f"/nodes/{node}/qemu/{vmid}/status/start"))
    except RuntimeError as err:
        print(f"\nError: {err}\n\n  with {VM if MAPPING in state else MAPPING},", file=sys.stderr)
        return 1
    print("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
    return 0


def destroy(api: Api, variables: dict[str, str]) -> int:
    if "destroy" in os.environ.get("FAKE_TERRAFORM_FAIL", "").split(","):
        print("\nError: injected destroy failure", file=sys.stderr)
        return 1
    state = load()
    target = state.pop(VM, None)
    if target:
        print(f"{VM}: Destroying... [id={target['vmid']}]")
        path = f"/nodes/{target['node']}/qemu/{target['vmid']}"
        if api.call("GET", f"{path}/status/current")["status"] == "running":
            api.task(target["node"], api.call("POST", f"{path}/status/stop"))
        api.task(target["node"], api.call("DELETE", path, purge=1))
    save(state)
    print("Destroy complete!")
    return 0


def outputs(api: Api) -> int:
    state = load()
    target = state.get(VM)
    if not target:
        print("{}")
        return 0
    try:
        agent = api.call("GET", f"/nodes/{target['node']}/qemu/{target['vmid']}/agent/network-get-interfaces")
        ips = [[a["ip-address"] for a in i.get("ip-addresses", []) if a["ip-address-type"] == "ipv4"]
               for i in agent["result"]]
    except RuntimeError:
        ips = []
    name = api.call("GET", f"/nodes/{target['node']}/qemu/{target['vmid']}/config")["name"]
    out = {"vmid": target["vmid"], "name": name, "node": target["node"], "ipv4_addresses": ips}
    print(json.dumps({k: {"value": v, "type": "string", "sensitive": False} for k, v in out.items()}))
    return 0


def main(argv: list[str]) -> int:
    cmd, variables, rest, _flags = parse(argv)
    with open(state_dir() / "calls.log", "a") as log:
        log.write(" ".join(argv) + "\n")
    if cmd == "version":
        print("Terraform v1.11.0 (stand-in)")
        return 0
    if cmd == "init":
        print("Terraform has been successfully initialized!")
        return 0
    if cmd == "workspace":
        (state_dir() / "environment").write_text(rest[-1])
        print(f"Switched to workspace \"{rest[-1]}\".")
        return 0
    if cmd == "state" and rest[:1] == ["list"]:
        print("\n".join(sorted(load())))
        return 0
    if cmd == "import":
        address, ident = rest[-2], rest[-1]
        state = load()
        state[address] = ident
        save(state)
        print("Import successful!")
        return 0
    api = Api()
    if cmd == "plan":
        return plan(api, variables)
    if cmd == "apply":
        return apply(api, variables)
    if cmd == "destroy":
        return destroy(api, variables)
    if cmd == "output":
        return outputs(api)
    print(f"stand-in terraform: unsupported command {argv}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
