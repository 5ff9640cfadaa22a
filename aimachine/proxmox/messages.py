"""Known Proxmox and provider errors, translated into what happened and what to do (pure)."""

from __future__ import annotations

import re

# Proxmox's 403: `Permission check failed (/vms/140, VM.Monitor)`; an any-of check joins with `|`
DENIED = re.compile(r"Permission check failed \((?P<path>[^,]+), (?P<priv>[\w.|]+)\)")

_RULES: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"PCI device '(?P<dev>[^']+)' already in use by VMID '(?P<vmid>\d+)'"),
     "the GPU {dev} is already in use by VM {vmid}{name}",
     "stop VM {vmid} (`qm stop {vmid}`) or remove its hostpci entry, then re-run"),
    (re.compile(r"only root can set '(?P<key>hostpci\d+)' config for non-mapped devices"),
     "the API token may not attach a raw PCI device ({key})",
     "keep proxmox.auth: api-token so the GPU is attached through its PCI mapping"),
    (DENIED,
     "the token lacks {priv} on {path}",
     "grant {priv} on {path} to the token (Datacenter > Permissions), then re-run"),
    # qemu-server's create, and every failed any-of or `or` check, name no privilege
    (re.compile(r"Permission check failed(?! \()"),
     "the token lacks a privilege Proxmox does not name",
     "run `aimachine preflight NAME`: its privileges check names each missing privilege and the grant"),
    (re.compile(r"pci ID '(?P<map>[^']+)' already defined"),
     "the PCI mapping {map} appeared while Terraform was creating it",
     "re-run: a mapping that exists is used by name, and never changed or deleted"),
    (re.compile(r"(?i)(no space left|not enough space|out of space)"),
     "the VM's storage ran out of space",
     "free space on the VM storage or lower disk_gb in catalog.yml"),
    (re.compile(r"(?i)IOMMU not present"),
     "IOMMU is off on the node",
     "enable IOMMU (see `aimachine preflight`), reboot the node, re-run"),
    (re.compile(r"(?i)timeout while waiting for the QEMU (guest )?agent"),
     "the guest agent did not answer in time",
     "check the VM's console for cloud-init errors; the snippet installs qemu-guest-agent"),
]


def denied(message: str) -> tuple[str, str] | None:
    """(ACL path, privilege) of a Proxmox permission error, or None for any other message."""
    match = DENIED.search(message)
    return (match["path"], match["priv"]) if match else None


def translate(output: str, vm_names: dict[int, str] | None = None) -> tuple[str, str]:
    """(message, remedy) for the first known error in `output`, else its first `Error:` line."""
    names = vm_names or {}
    for pattern, message, remedy in _RULES:
        match = pattern.search(output)
        if match:
            fields = match.groupdict()
            vmid = fields.get("vmid")
            fields["name"] = f" {names[int(vmid)]!r}" if vmid and int(vmid) in names else ""
            return message.format(**fields), remedy.format(**fields)
    errors = [line.strip() for line in output.splitlines() if "Error" in line]
    first = errors[0] if errors else (output.strip().splitlines() or ["no output"])[-1]
    return first, "read the Terraform output above, fix the cause, and re-run"
