"""The Proxmox VE privileges a deploy needs, the ACL path Proxmox checks each on, and how to grant them.

Pure functions over the catalog entry and the token's own `GET /access/permissions` answer
(path -> {privilege: propagate}).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from deploy.catalog import Catalog, Vm

ROLE = "AImachine"
Need = tuple[str, str]                  # privilege, ACL path
Tree = Mapping[str, Mapping[str, object]]  # access/permissions: path -> {privilege: propagate}

# (privilege, ACL path) for every API call of a deploy, the tool's and the bpg provider's, as
# Proxmox VE 8 checks them (pve-manager, qemu-server). The README's list is these names.
NEEDED: tuple[Need, ...] = (
    ("VM.Allocate", "/vms/{vmid}"),                 # create; a rollback's purge
    ("VM.Audit", "/vms/{vmid}"),                    # config, status; cluster/resources lists only these
    ("VM.Config.CDROM", "/vms/{vmid}"),             # the cloud-init drive
    ("VM.Config.CPU", "/vms/{vmid}"),               # cores, cpu type
    ("VM.Config.Cloudinit", "/vms/{vmid}"),         # cicustom (the snippet), ipconfig
    ("VM.Config.Disk", "/vms/{vmid}"),              # system and EFI disks
    ("VM.Config.HWType", "/vms/{vmid}"),            # machine, hostpci0, serial0
    ("VM.Config.Memory", "/vms/{vmid}"),
    ("VM.Config.Network", "/vms/{vmid}"),
    ("VM.Config.Options", "/vms/{vmid}"),           # name, agent, bios, ostype, tags, onboot
    ("VM.PowerMgmt", "/vms/{vmid}"),                # start; stop before a rollback's purge
    ("VM.Monitor", "/vms/{vmid}"),                  # the guest agent's address (VM.GuestAgent.Audit on 9)
    ("Datastore.AllocateSpace", "/storage/{storage}"),  # the VM's disks
    ("Datastore.Audit", "/storage/{image_storage}"),    # the cloud image
    ("Datastore.Audit", "/storage/{snippets}"),         # the snippets storage's path
    ("Sys.Audit", "/"),                             # hardware/pci (the GPU, its IOMMU group), node figures
    ("SDN.Use", "/sdn/zones/localnetwork/{bridge}"),  # the VM's network device on its bridge
    ("Mapping.Audit", "/mapping/pci/{mapping}"),    # api-token only: the GPU's PCI mapping, read
    ("Mapping.Use", "/mapping/pci/{mapping}"),      # ... attached as hostpci0: mapping=NAME
    ("Mapping.Modify", "/mapping/pci"),             # ... created by Terraform
)
MAPPING_PREFIX = "Mapping."


def needed(catalog: Catalog, vm: Vm, pve_major: int = 8) -> list[Need]:
    """NEEDED for this VM: paths filled in, Mapping.* only with api-token auth, no duplicates."""
    fields = {"vmid": vm.vmid, "storage": vm.storage, "image_storage": vm.image.split(":", 1)[0],
              "snippets": catalog.proxmox.storages.snippets, "bridge": vm.bridge, "mapping": vm.gpu.mapping}
    out: list[Need] = []
    for priv, path in NEEDED:
        if priv.startswith(MAPPING_PREFIX) and catalog.proxmox.auth != "api-token":
            continue
        if priv == "VM.Monitor" and pve_major >= 9:
            priv = "VM.GuestAgent.Audit"
        item = (priv, path.format(**fields))
        if item not in out:
            out.append(item)
    return out


def names(needs: Iterable[Need] = NEEDED) -> list[str]:
    """The privilege names, each once, in order (for a role and for the README)."""
    return list(dict.fromkeys(priv for priv, _ in needs))


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
    """The needs the tree does not grant, in the order given."""
    return [(priv, path) for priv, path in needs if priv not in effective(tree, path)]


def grant_command(token_id: str, privs: Iterable[str]) -> str:
    """The pveum commands that give the token (and its user, for privilege separation) these privileges."""
    user = token_id.split("!", 1)[0]
    listed = " ".join(privs)
    return (f'on the node: `pveum role add {ROLE} --privs "{listed}"` (`pveum role modify {ROLE}` with the '
            f"same --privs if the role exists), then `pveum acl modify / --users '{user}' --tokens "
            f"'{token_id}' --roles {ROLE}`")
