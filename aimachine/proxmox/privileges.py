"""The Proxmox VE privileges a deploy needs, the ACL path Proxmox checks each on, and how to grant them.

Pure functions over the catalog entry, the PVE major version, and the token's own
`GET /access/permissions` answer (path -> {privilege: propagate}).

Each need comes from the official permission check of a call the tool or the bpg provider makes
(pve-docs apidata.js; qemu-server's per-option checks for create and config), as journalled by a real
apply against the simulator: the role is the least set that passes all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aimachine.catalog.schema import Catalog, Vm

ROLE = "AImachine"
USER, TOKEN_NAME = "aimachine@pve", "deploy"
Tree = Mapping[str, Mapping[str, object]]  # access/permissions: path -> {privilege: propagate}


@dataclass(frozen=True)
class Need:
    privs: tuple[str, ...]  # any one of these passes (Proxmox's `any` checks); the first goes in the role
    path: str
    why: str

    @property
    def name(self) -> str:
        return self.privs[0]

    def text(self) -> str:
        return f"{' or '.join(self.privs)} on {self.path}"


AGENT = ("<the guest agent's privilege>",)  # VM.Monitor on 8, VM.GuestAgent.Audit on 9: see _AGENT
# (privileges, path, why, when): `when` is "always", "api-token" (the GPU by mapping), "new-mapping"
# (Terraform creates the mapping).
_NEEDED: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("VM.Allocate",), "/vms/{vmid}", "create the VM (POST qemu); purge it in a rollback", "always"),
    (("VM.Audit",), "/vms/{vmid}", "read its config and status (cluster/resources lists only these)",
     "always"),
    (("VM.Config.CDROM",), "/vms/{vmid}", "the cloud-init drive (ide2)", "always"),
    (("VM.Config.CPU",), "/vms/{vmid}", "cores, cpu type, sockets, numa", "always"),
    (("VM.Config.Cloudinit",), "/vms/{vmid}", "cicustom (the snippet), ipconfig0", "always"),
    (("VM.Config.Disk",), "/vms/{vmid}", "virtio0, efidisk0, boot order; the disk resize", "always"),
    (("VM.Config.HWType",), "/vms/{vmid}", "machine, hostpci0, serial0, scsihw, tablet", "always"),
    (("VM.Config.Memory",), "/vms/{vmid}", "memory, balloon", "always"),
    (("VM.Config.Network",), "/vms/{vmid}", "net0", "always"),
    (("VM.Config.Options",), "/vms/{vmid}", "name, agent, bios, ostype, onboot, tags, description", "always"),
    (("VM.PowerMgmt",), "/vms/{vmid}", "start it; stop it before a rollback's purge", "always"),
    (AGENT, "/vms/{vmid}", "the guest agent's address in the boot phase (network-get-interfaces)", "always"),
    (("Datastore.AllocateSpace",), "/storage/{storage}", "allocate the VM's disks", "always"),
    (("Datastore.AllocateSpace", "Datastore.Audit"), "/storage/{image_storage}",
     "read the cloud image (import-from; preflight's content list)", "always"),
    (("Datastore.AllocateSpace", "Datastore.Audit"), "/storage/{snippets}",
     "the snippet storage's path; cicustom's volume", "always"),
    (("Sys.Audit", "Sys.Modify"), "/", "hardware/pci: the GPU, its IOMMU group, subsystem id", "always"),
    (("SDN.Use",), "/sdn/zones/localnetwork/{bridge}", "the VM's network device on its bridge", "always"),
    (("Mapping.Use",), "/mapping/pci/{mapping}", "attach the GPU as hostpci0: mapping=NAME; read it",
     "api-token"),
    (("Mapping.Modify",), "/mapping/pci", "Terraform creates the mapping (when it does not exist yet)",
     "new-mapping"),
)
# pve-access-control 9.0.2 removed VM.Monitor; the agent route checks VM.GuestAgent.Audit or .Unrestricted.
_AGENT = {8: ("VM.Monitor",), 9: ("VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted")}


def agent_privs(pve_major: int) -> tuple[str, ...]:
    return _AGENT[9] if pve_major >= 9 else _AGENT[8]


def needed(catalog: Catalog, vm: Vm, pve_major: int = 8, new_mapping: bool = True) -> list[Need]:
    """The needs of this VM's deploy: paths filled in, Mapping.* only with api-token auth (Modify only
    when the mapping is still to be made), no duplicates."""
    fields = {"vmid": vm.vmid, "storage": vm.storage, "image_storage": vm.image.split(":", 1)[0],
              "snippets": catalog.proxmox.storages.snippets, "bridge": vm.bridge, "mapping": vm.gpu.mapping}
    wanted = {"always", *(["api-token"] if catalog.proxmox.auth == "api-token" else []),
              *(["new-mapping"] if catalog.proxmox.auth == "api-token" and new_mapping else [])}
    out: list[Need] = []
    for alternatives, path, why, when in _NEEDED:
        choices = agent_privs(pve_major) if alternatives == AGENT else alternatives
        need = Need(choices, path.format(**fields), why)
        if when in wanted and all((n.privs, n.path) != (need.privs, need.path) for n in out):
            out.append(need)
    return out


def names(needs: Iterable[Need]) -> list[str]:
    """The role's privileges: the first choice of each need, each once, in order."""
    return list(dict.fromkeys(need.name for need in needs))


def effective(tree: Tree, path: str) -> set[str]:
    """The privileges held on `path`: its own entry in the tree, else what the nearest listed
    ancestor propagates (Proxmox lists every path that has an ACL, with effective privileges)."""
    node = path
    while True:
        if node in tree:
            privs = tree[node] or {}
            return set(privs) if node == path else {p for p, propagate in privs.items() if propagate}
        if node == "/":
            return set()
        node = node.rsplit("/", 1)[0] or "/"


def missing(tree: Tree, needs: Iterable[Need]) -> list[Need]:
    """The needs the tree does not grant (no alternative held), in the order given."""
    return [need for need in needs if not set(need.privs) & effective(tree, need.path)]


def sees_every_vm(tree: Tree) -> bool:
    """Whether VM.Audit reaches every VM (granted on /vms or /, propagated): cluster/resources lists
    only VMs the token may audit, so otherwise a VM holding the GPU can be invisible."""
    return "VM.Audit" in effective(tree, "/vms/-any-other-")


def grant_command(token_id: str, privs: Iterable[str]) -> str:
    """The pveum commands that give the token (and its user, for privilege separation) these privileges."""
    user = token_id.split("!", 1)[0]
    listed = " ".join(privs)
    return (f'on the node: `pveum role add {ROLE} --privs "{listed}"` (`pveum role modify {ROLE}` with the '
            f"same --privs if the role exists), then `pveum acl modify / --users '{user}' --tokens "
            f"'{token_id}' --roles {ROLE}`")


def setup_commands(privs: Iterable[str], token_id: str = f"{USER}!{TOKEN_NAME}") -> list[str]:
    """The commands that make a least-privilege token from nothing: user, role (`privs`, which name the
    node's version's privileges), token (privilege separation on: it holds what both it and the user
    hold), and the ACL for both."""
    user, name = token_id.split("!", 1)
    listed = " ".join(privs)
    return [f"pveum user add {user}",
            f'pveum role add {ROLE} --privs "{listed}"',
            f"pveum user token add {user} {name} --privsep 1   # prints the secret once",
            f"pveum acl modify / --users '{user}' --tokens '{token_id}' --roles {ROLE}"]
