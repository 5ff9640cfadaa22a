"""Preflight's rules: whether the catalog's VM can be built on the host, judged from what
hostfacts.gather read (read-only). Every `check_*` is a pure function of the catalog entry and those
facts, returning one Finding. Any FAIL stops a deploy before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aimachine import pci
from aimachine.catalog.schema import Catalog, Vm
from aimachine.proxmox import privileges as privs
from aimachine.proxmox.api import ApiError
from aimachine.proxmox.hostfacts import HostFacts
from aimachine.proxmox.ownership import holder

GIB = 1024**3
BRIDGE_CLASS = "0x0604"  # PCI bridges may share the GPU's IOMMU group harmlessly


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warn | FAIL
    check: str
    finding: str
    remedy: str = ""

    def line(self) -> str:
        text = f"{self.level:<4} {self.check}: {self.finding}"
        return text + (f"\n       remedy: {self.remedy}" if self.remedy and self.level != "ok" else "")


def check_ssh_agent(env: dict[str, str], image: str = "") -> Finding:
    """Terraform's provider imports an `iso` cloud image over SSH to the node with the admin's ssh-agent
    (its own SSH client uses nothing else); an image in `import` content goes through the API."""
    if env.get("SSH_AUTH_SOCK"):
        return Finding("ok", "ssh-agent", "running (Terraform uses it to reach the node)")
    if ":import/" in image:
        return Finding("ok", "ssh-agent", f"not needed: Terraform imports {image} through the API")
    return Finding("warn", "ssh-agent", "SSH_AUTH_SOCK is not set: Terraform imports the cloud image over "
                   "SSH to the node with your ssh-agent", "eval $(ssh-agent) && ssh-add ~/.ssh/id_ed25519")


# ---- pure checks ------------------------------------------------------------------------------

def check_privileges(catalog: Catalog, vm: Vm, facts: HostFacts) -> Finding:
    """Every privilege a deploy needs, on the path Proxmox checks it, from the token's own answer."""
    needs = privs.needed(catalog, vm, facts.pve_major(), facts.mapping_absent(vm.gpu.mapping))
    if facts.permissions is None:
        why = facts.errors.get("permissions", "no answer")
        return Finding("warn", "privileges", f"cannot read the privileges of {facts.token_id} ({why}): "
                       "not checked; a missing one fails later with 'Permission check failed'",
                       f"compare `pveum user token permissions {facts.token_id.replace('!', ' ')}` "
                       "on the node with README (What you need on the Proxmox side)")
    lacking = privs.missing(facts.permissions, needs)
    if lacking:
        listed = ", ".join(need.text() for need in lacking)
        return Finding("FAIL", "privileges", f"token {facts.token_id} lacks {len(lacking)} "
                       f"privilege{'s' if len(lacking) != 1 else ''}: {listed}",
                       privs.grant_command(facts.token_id, privs.names(needs)))
    return Finding("ok", "privileges", f"{facts.token_id} holds the {len(privs.names(needs))} privileges "
                   "a deploy needs")


def check_node(vm: Vm, facts: HostFacts) -> Finding:
    info = facts.node_info()
    if info is None:
        names = ", ".join(n.get("node", "?") for n in facts.nodes) or "none"
        return Finding("FAIL", "node", f"node {facts.node!r} is not in the cluster (nodes: {names})",
                       "set proxmox.node (or the VM's node) in catalog.yml to one of those nodes")
    if info.get("status") != "online":
        return Finding("FAIL", "node", f"node {facts.node} is {info.get('status', 'unknown')}",
                       f"bring {facts.node} back online (power, network, `pvecm status`), then re-run")
    return Finding("ok", "node", f"{facts.node} online")


def check_vmid(vm: Vm, facts: HostFacts) -> Finding:
    found = holder(facts.vms, vm.vmid)
    held = found.entry
    if held is None and facts.vmid_taken:
        return Finding("FAIL", "vmid", f"VM id {vm.vmid} is taken by a guest token {facts.token_id} may not "
                       "see (no VM.Audit on it)",
                       f"choose another vmid in catalog.yml, or grant VM.Audit on /vms/{vm.vmid} to see "
                       "whose it is; this tool never touches it")
    if held is None:
        return Finding("ok", "vmid", f"{vm.vmid} is free")
    if not found.is_vm:
        return Finding("FAIL", "vmid", f"id {vm.vmid} belongs to container {held.get('name')!r} "
                       f"(on {held.get('node')})",
                       f"choose another vmid for {vm.name} in catalog.yml; this tool never touches it")
    if found.ours(vm.name):
        return Finding("ok", "vmid", f"{vm.vmid} is {vm.name} already ({held.get('status')}): a re-run")
    taken = {int(v.get("vmid", 0)) for v in facts.vms}
    free = next(i for i in range(vm.vmid + 1, vm.vmid + 100000) if i not in taken)
    return Finding("FAIL", "vmid", f"VM id {vm.vmid} belongs to {held.get('name')!r} "
                   f"(on {held.get('node')}, {held.get('status')})",
                   f"choose another vmid for {vm.name} in catalog.yml (next free: {free}); "
                   f"this tool never touches VM {vm.vmid}")


def gpu_functions(vm: Vm, devices: list[dict]) -> list[dict]:
    """The host PCI functions the catalog's GPU address names (all functions without .F)."""
    want = pci.full(vm.gpu.pci_address)
    return [d for d in devices if pci.full(str(d.get("id", ""))) == want
            or pci.device(str(d.get("id", ""))) == want]


def _ids(dev: dict) -> str:
    return f"{str(dev.get('vendor', '')).removeprefix('0x')}:{str(dev.get('device', '')).removeprefix('0x')}"


def check_gpu(vm: Vm, facts: HostFacts) -> Finding:
    if "pci" in facts.errors:
        return Finding("FAIL", "gpu", f"cannot list PCI devices: {facts.errors['pci']}",
                       "grant the token Sys.Audit on /, then re-run")
    funcs = gpu_functions(vm, facts.pci)
    if not funcs:
        nvidia = [f"{d['id']} ({_ids(d)})" for d in facts.pci if str(d.get("vendor")) == "0x10de"]
        seen = f"; NVIDIA devices on the node: {', '.join(nvidia)}" if nvidia else "; no NVIDIA device at all"
        return Finding("FAIL", "gpu", f"no PCI device at {vm.gpu.pci_address} on {facts.node}{seen}",
                       "run `lspci -nn | grep -i nvidia` on the node and set gpu.pci_address in catalog.yml; "
                       "if the card is missing, reseat it and check the BIOS")
    if not any(_ids(d) == vm.gpu.vendor_device.lower() for d in funcs):
        found = ", ".join(f"{d['id']} is {_ids(d)}" for d in funcs)
        return Finding("FAIL", "gpu", f"{found}; the catalog expects {vm.gpu.vendor_device}",
                       "fix gpu.pci_address or gpu.vendor_device in catalog.yml (`lspci -nn` on the node)")
    return Finding("ok", "gpu", f"{vm.gpu.vendor_device} at {vm.gpu.pci_address} "
                   f"({len(funcs)} function{'s' if len(funcs) != 1 else ''})")


IOMMU_REMEDY = ("turn IOMMU on: add `intel_iommu=on iommu=pt` (Intel) or `amd_iommu=on iommu=pt` (AMD) to "
                "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub and run `update-grub` (systemd-boot: "
                "/etc/kernel/cmdline and `proxmox-boot-tool refresh`), enable VT-d/AMD-Vi in the BIOS, "
                "reboot")


def check_iommu(vm: Vm, facts: HostFacts) -> Finding:
    funcs = gpu_functions(vm, facts.pci)
    if not funcs:
        return Finding("warn", "iommu", "not judged: the GPU was not found")
    groups = {int(d.get("iommugroup", -1)) for d in funcs}
    if -1 in groups:
        return Finding("FAIL", "iommu", f"IOMMU is off (iommugroup -1 for {funcs[0]['id']})", IOMMU_REMEDY)
    others = [d for d in facts.pci if int(d.get("iommugroup", -1)) in groups and d not in funcs
              and not str(d.get("class", "")).startswith(BRIDGE_CLASS)]
    if others:
        names = ", ".join(f"{d['id']} ({_ids(d)})" for d in others)
        return Finding("FAIL", "iommu", f"IOMMU group {sorted(groups)[0]} also holds {names}",
                       "put the GPU in a slot with its own IOMMU group (check `pvesh get "
                       f"/nodes/{facts.node}/hardware/pci`); everything in the group would be passed through")
    return Finding("ok", "iommu", f"group {sorted(groups)[0]} holds only the GPU's functions")


def _mapping_paths(mapping: dict, node: str) -> set[str]:
    found = set()
    for entry in mapping.get("map") or []:
        fields = dict(f.split("=", 1) for f in str(entry).split(",") if "=" in f)
        if fields.get("node") == node and fields.get("path"):
            found.add(pci.device(fields["path"]))
    return found


def holds_gpu(config: dict, vm: Vm, mappings: list[dict], node: str) -> str | None:
    """The hostpciN entry of `config` that names the catalog's GPU (by address or mapping), if any."""
    gpu = pci.device(vm.gpu.pci_address)
    gpu_maps = {m.get("id") for m in mappings if gpu in _mapping_paths(m, node)} | {vm.gpu.mapping}
    for key, value in sorted(config.items()):
        if not key.startswith("hostpci"):
            continue
        dev = str(value).split(",")[0]
        if dev.startswith("mapping="):
            if dev.removeprefix("mapping=") in gpu_maps:
                return f"{key}: {value}"
            continue
        # a raw entry may list several functions: host=0000:01:00.0;0000:01:00.1
        if any(pci.device(one) == gpu for one in dev.removeprefix("host=").split(";")):
            return f"{key}: {value}"
    return None


def check_gpu_free(vm: Vm, facts: HostFacts) -> Finding:
    holders = []
    for entry in facts.qemu():
        vmid = int(entry.get("vmid", 0))
        if vmid == vm.vmid or entry.get("node") != facts.node:
            continue
        entry_hold = holds_gpu(facts.configs.get(vmid, {}), vm, facts.mappings, facts.node)
        if entry_hold:
            holders.append((entry, entry_hold))
    running = [(e, h) for e, h in holders if e.get("status") == "running"]
    if running:
        e, h = running[0]
        return Finding("FAIL", "gpu-free",
                       f"the GPU is held by running VM {e['vmid']} {e.get('name')!r} ({h})",
                       f"stop VM {e['vmid']} (`qm stop {e['vmid']}`) or remove its "
                       f"{h.split(':')[0]} entry (`qm set {e['vmid']} --delete {h.split(':')[0]}`), "
                       "then re-run")
    if holders:
        ids = ", ".join(f"{e['vmid']} {e.get('name')!r}" for e, _ in holders)
        return Finding("warn", "gpu-free", f"not in use now, but stopped VM(s) {ids} also pass it through: "
                       "only one of them can run at a time")
    if facts.sees_every_vm() is False:
        user = facts.token_id.split("!", 1)[0]
        return Finding("warn", "gpu-free", f"no VM that {facts.token_id} may see holds the GPU, but it "
                       "may see only some VMs (no VM.Audit on /vms): one it cannot see may hold it, and "
                       "the start would then fail",
                       f"`pveum acl modify /vms --users '{user}' --tokens '{facts.token_id}' "
                       "--roles PVEAuditor` lets preflight see every VM")
    return Finding("ok", "gpu-free", "no other VM holds the GPU")


def check_mapping(vm: Vm, facts: HostFacts, auth: str) -> Finding:
    if auth == "root-password":
        return Finding("ok", "mapping", "root@pam: the GPU is attached by its raw address")
    if "mappings" in facts.errors:
        return Finding("FAIL", "mapping", f"cannot read PCI mappings: {facts.errors['mappings']}",
                       "grant the token Mapping.Audit, Mapping.Use and Mapping.Modify on /mapping/pci")
    found = next((m for m in facts.mappings if m.get("id") == vm.gpu.mapping), None)
    if found is None:
        return Finding("ok", "mapping", f"{vm.gpu.mapping!r} absent: Terraform will create it "
                       "(needs Mapping.Modify)")
    if pci.device(vm.gpu.pci_address) not in _mapping_paths(found, facts.node):
        return Finding("FAIL", "mapping", f"mapping {vm.gpu.mapping!r} exists but does not point at "
                       f"{vm.gpu.pci_address} on {facts.node} ({'; '.join(found.get('map') or [])})",
                       "choose another gpu.mapping name in catalog.yml, or fix the mapping under "
                       "Datacenter > Resource Mappings")
    problems = [c.get("message", "") for c in found.get("checks") or [] if c.get("severity") == "error"]
    if problems:
        return Finding("warn", "mapping", f"{vm.gpu.mapping!r} has problems: {'; '.join(problems)}")
    return Finding("ok", "mapping", f"{vm.gpu.mapping!r} points at {vm.gpu.pci_address} on {facts.node}")


def _storage_denied(facts: HostFacts, check: str, name: str) -> Finding | None:
    """A storage the token may not read is not a missing storage: say which grant is missing."""
    why = facts.errors.get(f"storage {name}", "")
    if "Permission check failed" not in why:
        return None
    return Finding("FAIL", check, f"token {facts.token_id} may not read storage {name!r} ({why})",
                   f"grant Datastore.AllocateSpace on /storage/{name} to the token and its user")


def check_storage(vm: Vm, facts: HostFacts) -> Finding:
    status = facts.storages.get(vm.storage)
    denied = _storage_denied(facts, "storage", vm.storage)
    if denied:
        return denied
    if status is None:
        return Finding("FAIL", "storage", f"storage {vm.storage!r} not found on {facts.node} "
                       f"({facts.errors.get(f'storage {vm.storage}', 'not listed')})",
                       "set vms[].storage in catalog.yml to a storage with 'images' content (`pvesm status`)")
    if "images" not in str(status.get("content", "")).split(","):
        return Finding("FAIL", "storage",
                       f"{vm.storage} does not hold VM disks (content: {status.get('content')})",
                       f"enable 'Disk image' content on {vm.storage}, or choose another storage")
    if holder(facts.vms, vm.vmid).ours(vm.name):
        return Finding("ok", "storage", f"{vm.storage}: the VM's disk exists already")
    need, avail = vm.disk_gb * GIB, int(status.get("avail", 0))
    if avail < need:
        return Finding("FAIL", "storage", f"{vm.storage} has {avail / GIB:.0f} GiB free, the disk needs "
                       f"{vm.disk_gb} GiB",
                       f"free {(need - avail) / GIB:.0f} GiB on {vm.storage}, or lower disk_gb / choose "
                       "another storage in catalog.yml")
    return Finding("ok", "storage", f"{vm.storage}: {avail / GIB:.0f} GiB free for {vm.disk_gb} GiB")


def check_snippets(catalog: Catalog, facts: HostFacts) -> Finding:
    name = catalog.proxmox.storages.snippets
    status = facts.storages.get(name)
    denied = _storage_denied(facts, "snippets", name)
    if denied:
        return denied
    if status is None:
        return Finding("FAIL", "snippets", f"storage {name!r} not found on {facts.node}",
                       "set proxmox.storages.snippets in catalog.yml to a file-based storage")
    content = [c for c in str(status.get("content", "")).split(",") if c]
    if "snippets" not in content:
        return Finding("FAIL", "snippets", f"{name} has no 'snippets' content "
                       f"({','.join(content) or 'no content at all'})",
                       f"`pvesm set {name} --content {','.join([*content, 'snippets'])}` on the node")
    return Finding("ok", "snippets", f"{name} accepts snippets")


def check_image(vm: Vm, facts: HostFacts) -> Finding:
    storage = vm.image.split(":", 1)[0]
    denied = _storage_denied(facts, "image", storage)
    if denied:
        return denied
    if storage not in facts.storages:
        return Finding("FAIL", "image", f"storage {storage!r} of {vm.image} not found on {facts.node}",
                       "fix vms[].image in catalog.yml (`pvesm list STORAGE` on the node)")
    if vm.image not in facts.image_volumes:
        file = vm.image.split("/", 1)[-1]
        return Finding("FAIL", "image", f"{vm.image} is not on {storage}",
                       f"download the Ubuntu 24.04 cloud image {file} from https://cloud-images.ubuntu.com/"
                       f"noble/current/ into the ISO folder of {storage} (`pvesm path {vm.image}`), "
                       "then re-run")
    return Finding("ok", "image", f"{vm.image} present")


def check_resources(vm: Vm, facts: HostFacts) -> Finding:
    info = facts.node_info() or {}
    if "maxcpu" not in info or "maxmem" not in info:  # /nodes shows them only with Sys.Audit on the node
        return Finding("warn", "resources", f"cannot read {facts.node}'s cores and memory (token "
                       f"{facts.token_id} has no Sys.Audit on /nodes/{facts.node}): not checked",
                       f"grant Sys.Audit on /nodes/{facts.node} (or /) to the token and its user")
    maxcpu, maxmem = int(info.get("maxcpu", 0)), int(info.get("maxmem", 0))
    need_mem = vm.memory_mb * 1024**2
    if vm.cores > maxcpu or need_mem > maxmem:
        return Finding("FAIL", "resources", f"{vm.cores} cores / {vm.memory_mb} MB asked; {facts.node} has "
                       f"{maxcpu} cores / {maxmem // 1024**2} MB",
                       "lower cores or memory_mb in catalog.yml")
    committed = sum(int(v.get("maxmem", 0)) for v in facts.vms if v.get("node") == facts.node
                    and v.get("status") == "running" and int(v.get("vmid", 0)) != vm.vmid)
    if committed + need_mem > maxmem:
        return Finding("warn", "resources", f"running VMs already use {committed // 1024**2} MB of "
                       f"{maxmem // 1024**2} MB; {vm.memory_mb} MB more may not fit")
    return Finding("ok", "resources", f"{vm.cores}/{maxcpu} cores, {vm.memory_mb}/{maxmem // 1024**2} MB")


def judge(catalog: Catalog, vm: Vm, facts: HostFacts) -> list[Finding]:
    """Every check, in the order an admin would fix them."""
    first = [check_privileges(catalog, vm, facts), check_node(vm, facts)]
    if first[-1].level == "FAIL":
        return first
    return [*first, check_vmid(vm, facts), check_gpu(vm, facts), check_iommu(vm, facts),
            check_gpu_free(vm, facts), check_mapping(vm, facts, catalog.proxmox.auth),
            check_storage(vm, facts), check_snippets(catalog, facts), check_image(vm, facts),
            check_resources(vm, facts)]


def api_failure(err: ApiError, endpoint: str, token_id: str) -> Finding:
    """The first check: reachable and token accepted; judged from the error of the first call."""
    if err.status == 401:
        return Finding("FAIL", "api", f"token {token_id} refused by {endpoint} (401 {err.message})",
                       "check PROXMOX_VE_API_TOKEN (USER@REALM!TOKENID=SECRET) against Datacenter > "
                       "Permissions > API Tokens; a regenerated token has a new secret")
    if err.status == 403:
        return Finding("FAIL", "api", f"token {token_id} lacks a privilege: {err.message}",
                       "grant the privileges `aimachine token-setup NAME` lists "
                       "(docs: What you need on the Proxmox side)")
    if err.status == 0:
        return Finding("FAIL", "api", err.message,
                       "check PROXMOX_VE_ENDPOINT and that the node answers on port 8006; "
                       "PROXMOX_VE_INSECURE=true accepts a self-signed certificate")
    return Finding("FAIL", "api", f"{endpoint} answered {err.status}: {err.message}",
                   "check the Proxmox API (`systemctl status pveproxy` on the node)")


def failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "FAIL"]
