"""Reading terraform/ for the tests: parsed HCL, the catalog fields it must use, secret shapes."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

from aimachine.catalog.schema import Gpu, Proxmox, Storages, Vm
from tests.conftest import ROOT

TF_DIR = ROOT / "aimachine" / "terraform"

# The HCL local that holds each catalog section (aimachine/terraform/catalog.tf).
HCL_LOCAL = {Proxmox: "local.proxmox", Storages: "local.storages", Vm: "local.vm", Gpu: "local.gpu"}

# Catalog fields Terraform deliberately does not read, and why.
NOT_TERRAFORMS = {
    (Proxmox, "endpoint"): "the provider reads PROXMOX_VE_ENDPOINT, the same variable aimachine reads",
    (Storages, "iso"): "vms[].image is a volume id that already names its storage; preflight checks it",
    (Vm, "login"): "user and SSH key go into the cloud-init snippet aimachine writes: never into state",
    (Vm, "nvidia"): "guest configuration (pyinfra)",
    (Vm, "services"): "guest configuration (pyinfra)",
    (Vm, "firewall"): "guest configuration (pyinfra)",
    (Vm, "swap_gb"): "guest configuration (pyinfra: a swap file inside the VM's disk)",
    (Gpu, "name"): "what verify expects nvidia-smi to report inside the guest",
    (Gpu, "min_memory_mib"): "what verify expects nvidia-smi to report inside the guest",
    (Gpu, "memory_bandwidth_gbps"): "the benchmark's roofline",
}

_META_KEYS = {"__comments__", "__inline_comments__", "__is_block__"}


def _strip(node: Any) -> Any:
    """Parsed HCL without the parser's comment and block markers, labels and strings unquoted."""
    if isinstance(node, dict):
        return {unquote(k): _strip(v) for k, v in node.items() if k not in _META_KEYS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return unquote(node) if isinstance(node, str) else node


def unquote(text: str) -> str:
    """`"root"` (a string literal as the parser keeps it) -> `root`; expressions stay as they are."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def parse_text(text: str) -> dict[str, Any]:
    return _strip(hcl2.loads(text))


def parse_module(directory: Path = TF_DIR) -> dict[str, dict[str, Any]]:
    """Every .tf file of the module, parsed, by file name."""
    return {p.name: parse_text(p.read_text()) for p in sorted(directory.glob("*.tf"))}


def blocks(module: dict[str, dict[str, Any]], kind: str) -> list[Any]:
    """All top-level blocks of one kind (resource, data, output...) across the module's files."""
    return [b for parsed in module.values() for b in parsed.get(kind, [])]


def labelled(module: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """`resource "type" "name"` blocks as {"type.name": body}."""
    found = {}
    for block in blocks(module, kind):
        for rtype, named in block.items():
            for name, body in named.items():
                found[f"{rtype}.{name}"] = body
    return found


def expressions(module: dict[str, dict[str, Any]]) -> str:
    """All of the module's code as one text, comments left out."""
    return json.dumps(module)


def terraform_fields(cls: type = Vm) -> Iterator[tuple[type, str]]:
    """The catalog fields (section class, field) Terraform must read, derived from the schema."""
    for f in dataclasses.fields(cls):
        if (cls, f.name) in NOT_TERRAFORMS or f.metadata.get("internal"):
            continue
        if f.metadata.get("section"):
            yield from terraform_fields(_section_class(cls, f.name))
        else:
            yield cls, f.name


def _section_class(cls: type, name: str) -> type:
    return typing.get_type_hints(cls)[name]


def unused_fields(code: str) -> list[str]:
    """Catalog fields Terraform should read that the code never references."""
    wanted = [*terraform_fields(Proxmox), *terraform_fields(Vm)]
    return [f"{HCL_LOCAL[cls]}.{name}" for cls, name in wanted
            if not re.search(rf"{re.escape(HCL_LOCAL[cls])}\.{name}\b", code)]


def unknown_fields(code: str) -> list[str]:
    """References like local.vm.memroy_mb to fields the catalog schema does not have."""
    known = {local: {f.name for f in dataclasses.fields(cls)} for cls, local in HCL_LOCAL.items()}
    refs = re.findall(r"\b(local\.(?:proxmox|storages|vm|gpu))\.(\w+)", code)
    return sorted({f"{local}.{name}" for local, name in refs if name not in known[local]})


# Attribute names that carry a secret, and value shapes of keys and tokens.
SECRET_ATTRIBUTES = {"password", "api_token", "private_key", "keys", "user_account", "auth_ticket",
                     "csrf_prevention_token", "otp", "ssh_public_key", "ssh_private_key"}
SECRET_VALUES = [
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I),  # token secret
    re.compile(r"\w+@\w+!\w+"),                                        # token id USER@REALM!NAME
    re.compile(r"ssh-(ed25519|rsa|dss)|ecdsa-sha2-"),                  # public key
    re.compile(r"BEGIN [A-Z ]*PRIVATE KEY"),
    re.compile(r"\.ssh/|id_(ed25519|rsa|ecdsa)"),                      # a key file
    re.compile(r"PVEAPIToken", re.I),
]


def secrets(node: Any, where: str = "") -> Iterator[str]:
    """Where parsed HCL holds a secret attribute or a value shaped like a key or token."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_ATTRIBUTES:
                yield f"{where}.{key}: attribute {key!r}"
            yield from secrets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from secrets(value, f"{where}[{i}]")
    elif isinstance(node, str):
        for shape in SECRET_VALUES:
            if shape.search(node):
                yield f"{where}: value matches {shape.pattern!r}"
