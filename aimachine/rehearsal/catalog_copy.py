"""The catalog the rehearsal deploys: the admin's entry, as written, except what a rehearsal cannot
take from it (each change is returned as a sentence, and printed)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aimachine.rehearsal.host import import_image
from aimachine.rehearsal.payloads import mirror_settings


@dataclass(frozen=True)
class GuestSettings:
    """What the local guest needs instead: its payload mirror, its Python, the network it is reached from."""

    python: str
    host_ip: str


def _entry(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(vm for vm in raw["vms"] if vm.get("name") == name)


def apply(entry: dict[str, Any], changes: dict[str, Any]) -> None:
    """Set each dotted field of a catalog mapping (`services.vllm.python`); None removes it."""
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        here = entry
        for key in parents:
            here = here.setdefault(key, {})
        if value is None:
            here.pop(leaf, None)
        else:
            here[leaf] = value


def rehearsal_catalog(source: Path, name: str, dest: Path, public_key: Path,
                      guest: GuestSettings | None) -> list[str]:
    """Write the rehearsal's copy of `source` to `dest`; returns what differs from the admin's entry."""
    raw = yaml.safe_load(source.read_text())
    vm = _entry(raw, name)
    notes = []
    image = import_image(vm["image"])
    if image != vm["image"]:
        notes.append(f"image {vm['image']} is rehearsed as {image}: the provider imports an iso-content "
                     "image over SSH to the node, which the rehearsal does not simulate")
        vm["image"] = image
    login = vm.setdefault("login", {})
    login["ssh_public_key_file"] = str(public_key)
    login.pop("ssh_private_key_file", None)
    notes.append("login key: a throw-away key in the scratch directory (yours is never read)")
    if vm.get("ipv4", "dhcp") != "dhcp":
        notes.append(f"ipv4 {vm['ipv4']} is rehearsed as dhcp: the simulated guest agent reports the address")
        vm["ipv4"] = "dhcp"
        vm.pop("gateway", None)
    if guest is not None:
        network = ipaddress.ip_interface(f"{guest.host_ip}/30").network
        apply(vm, {**mirror_settings(guest.python), "firewall.admin_network": str(network)})
        notes.append(f"services: stand-in vLLM and Ollama from a local mirror in the guest (no GPU, no "
                     f"model pulled), Python {guest.python}; firewall.admin_network {network} "
                     "(this machine's "
                     "side of the guest's link)")
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return notes
