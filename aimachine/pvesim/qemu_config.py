"""How qemu-server stores a VM's options (pure): new disks allocated as volumes with a size, imported
disks taking the image's size, the cloud-init drive, a MAC on each NIC, and the identifiers a create adds
(smbios1 uuid, vmgenid, meta). The shapes are those of `qm config` on PVE 8.4/9.1 (pve-docs
qm.adoc examples; `local-zfs:vm-140-disk-0,...,size=500G`)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable

DISK_KEY = re.compile(r"(virtio|scsi|sata|ide)\d+|efidisk0|tpmstate0")
NET_KEY = re.compile(r"net\d+")
NIC_MODELS = ("e1000", "e1000e", "rtl8139", "virtio", "vmxnet3")
# qemu-server's QEMU version in `meta` on each release line (pve-qemu-kvm 9.2 on 8.4, 10.1 on 9.1).
QEMU_OF = {"8.4": "9.2.0", "9.1": "10.1.2"}
GIB, MIB = 1024**3, 1024**2


def split_prop(value: str) -> tuple[str, list[tuple[str, str]]]:
    """`local-zfs:32,discard=on` -> ('local-zfs:32', [('discard', 'on')])."""
    parts = [p for p in str(value).split(",") if p]
    head = parts[0] if parts and "=" not in parts[0] else ""
    rest = parts[1:] if head else parts
    fields = [tuple(p.split("=", 1)) for p in rest if "=" in p]
    if not head and fields and fields[0][0] in ("file", "volume"):  # the default key, spelt out
        head, fields = fields[0][1], fields[1:]
    return head, fields  # type: ignore[return-value]


def join_prop(head: str, fields: list[tuple[str, str]]) -> str:
    return ",".join([head, *(f"{k}={v}" for k, v in fields)] if head else [f"{k}={v}" for k, v in fields])


def format_size(size: int) -> str:
    """PVE's size suffix: whole GiB as G, else whole MiB as M, else K."""
    if size % GIB == 0:
        return f"{size // GIB}G"
    if size % MIB == 0:
        return f"{size // MIB}M"
    return f"{max(size // 1024, 1)}K"


def parse_size(text: str) -> int:
    """`500G`, `3584M`, `+10G` (without the plus) or bytes -> bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", text.strip())
    if not match:
        raise ValueError(f"unable to parse size '{text}'")
    factor = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}[match.group(2)]
    return int(float(match.group(1)) * factor)


def mac_for(vmid: int, index: int) -> str:
    """A stable MAC under Proxmox's OUI BC:24:11 (what PVE generates for a NIC without one)."""
    digest = hashlib.sha256(f"{vmid}/{index}".encode()).digest()
    return "BC:24:11:" + ":".join(f"{b:02X}" for b in digest[:3])


Allocate = Callable[[str, str, int, str], str]  # storage, key, size in bytes, format -> volid
ImageSize = Callable[[str], int]  # volid -> its size in bytes


def store_disk(vmid: int, key: str, value: str, allocate: Allocate, image_size: ImageSize,
               storage_type: Callable[[str], str]) -> str:
    """A disk option as given to create/config -> as stored: `STORE:SIZE` allocates, import-from copies."""
    head, fields = split_prop(value)
    if ":" not in head or "/" in head.split(":", 1)[1] or head.split(":", 1)[1].startswith("vm-"):
        return value  # an existing volume, or none ('none', 'cdrom'): kept as given
    store, amount = head.split(":", 1)
    if amount == "cloudinit":
        return join_prop(allocate(store, key, 4 * MIB, "raw"), [("media", "cdrom")])
    options = dict(fields)
    source = options.pop("import-from", None)
    if key == "efidisk0":
        size = MIB if storage_type(store) == "zfspool" else 528 * 1024
    elif source:
        size = image_size(source)
    else:
        size = int(float(amount) * GIB)
    options.pop("size", None)
    fmt = options.pop("format", "raw")
    volid = allocate(store, key, size, fmt)
    kept = [(k, v) for k, v in fields if k in options]
    return join_prop(volid, [*kept, ("size", format_size(size))])


def store_nic(vmid: int, key: str, value: str) -> str:
    """`virtio,bridge=vmbr0` -> `virtio=BC:24:11:..,bridge=vmbr0`: PVE adds a MAC to a NIC without one."""
    head, fields = split_prop(value)
    if head in NIC_MODELS:
        return join_prop("", [(head, mac_for(vmid, int(key[3:]))), *fields])
    model = next((f for f in fields if f[0] == "model"), None)
    if model and not any(k in NIC_MODELS for k, _ in fields):
        rest = [f for f in fields if f[0] not in ("model", "macaddr")]
        mac = dict(fields).get("macaddr") or mac_for(vmid, int(key[3:]))
        return join_prop("", [(model[1], mac), *rest])
    return value


def identifiers(version: str) -> dict[str, str]:
    """What a create adds to every VM's configuration."""
    return {"smbios1": f"uuid={uuid.uuid4()}", "vmgenid": str(uuid.uuid4()),
            "meta": f"creation-qemu={QEMU_OF.get(version, '9.2.0')},ctime={int(time.time())}"}


def resize(value: str, size: str, image_bytes: int) -> str:
    """`PUT resize size=500G` (or `+10G`) applied to a stored disk option; growing only."""
    head, fields = split_prop(value)
    current = parse_size(dict(fields).get("size", "0")) or image_bytes
    wanted = current + parse_size(size[1:]) if size.startswith("+") else parse_size(size)
    if wanted < current:
        raise ValueError("shrinking disks is not supported")
    others = [(k, v) for k, v in fields if k != "size"]
    return join_prop(head, [*others, ("size", format_size(wanted))])


def digest(config: dict) -> str:
    text = "\n".join(f"{k}: {v}" for k, v in sorted(config.items()))
    return hashlib.sha1(text.encode()).hexdigest()
