"""aimachine/terraform/ read as data: the provider pinned, the catalog read by Terraform itself, every catalog
field it needs used, the VM and the GPU mapping as FACTS.md describes them, and no secret anywhere."""

from __future__ import annotations

import dataclasses
import re

import pytest

from aimachine.catalog.schema import Proxmox, Storages, Vm
from tests.integration.terraform_module import (
    NOT_TERRAFORMS,
    TF_DIR,
    blocks,
    expressions,
    labelled,
    parse_module,
    parse_text,
    secrets,
    unknown_fields,
    unused_fields,
)

MODULE = parse_module()
CODE = expressions(MODULE)
RESOURCES = labelled(MODULE, "resource")
VM = RESOURCES["proxmox_virtual_environment_vm.vm"]
MAPPING = RESOURCES["proxmox_hardware_mapping_pci.gpu"]


def one(body: dict, name: str) -> dict:
    """The single nested block `name` of a resource body."""
    assert len(body[name]) == 1, f"expected one {name} block, found {len(body[name])}"
    return body[name][0]


def test_the_module_has_the_agreed_files():
    assert {"versions.tf", "variables.tf", "main.tf", "outputs.tf", "catalog.tf"} <= set(MODULE)


def test_provider_and_terraform_versions_are_pinned():
    (terraform,) = blocks(MODULE, "terraform")
    assert terraform["required_version"] == ">= 1.5"
    proxmox = terraform["required_providers"][0]["proxmox"]
    assert proxmox["source"] == "bpg/proxmox"
    # "~> 0.111" admits 0.111.x and later 0.x; "~> 0.111.0" would freeze the minor version.
    assert proxmox["version"] == "~> 0.111"


def test_provider_block_takes_nothing_but_ssh_from_the_configuration():
    (provider,) = [b["proxmox"] for b in blocks(MODULE, "provider")]
    assert set(provider) == {"ssh"}, "endpoint and credentials come from PROXMOX_VE_* only"
    ssh = one(provider, "ssh")
    assert ssh == {"agent": True, "username": "${local.proxmox.ssh_user}"}


def test_the_catalog_is_read_by_terraform_itself():
    (variables,) = [MODULE["variables.tf"]["variable"]]
    assert {name for v in variables for name in v} == {"catalog_path", "vm_name", "manage_mapping"}
    catalog_local = [b["catalog"] for b in blocks(MODULE, "locals") if "catalog" in b]
    assert catalog_local == ["${yamldecode(file(var.catalog_path))}"]
    assert "local.catalog.vms" in CODE and "var.vm_name" in CODE


def test_every_catalog_field_terraform_needs_is_used():
    assert unused_fields(CODE) == []
    assert unknown_fields(CODE) == []


def test_the_field_check_notices_a_field_left_out():
    assert "local.vm.memory_mb" in unused_fields(CODE.replace("local.vm.memory_mb", "51200"))
    assert unknown_fields("${local.vm.memroy_mb}") == ["local.vm.memroy_mb"]


def test_fields_left_to_python_exist_in_the_schema():
    for cls, name in NOT_TERRAFORMS:
        assert name in {f.name for f in dataclasses.fields(cls)}, f"{cls.__name__}.{name} is gone"


def test_terraform_defaults_equal_the_catalog_schema_defaults():
    (defaults,) = [b["defaults"] for b in blocks(MODULE, "locals") if "defaults" in b]
    for section, cls in {"proxmox": Proxmox, "storages": Storages, "vm": Vm}.items():
        # the catalog's optional fields; derived ones (metadata "internal": the gateway a VM runs or sits
        # behind) are no input Terraform could default
        schema = {f.name: f.default for f in dataclasses.fields(cls)
                  if f.default is not dataclasses.MISSING and not f.metadata.get("section")
                  and not f.metadata.get("internal")}
        hcl = defaults[section]
        for name, value in hcl.items():
            assert name in schema, f"defaults.{section}.{name}: not an optional field of {cls.__name__}"
            assert value == schema[name], f"defaults.{section}.{name}"
        used = {name for c, name in NOT_TERRAFORMS if c is cls}
        missing = set(schema) - set(hcl) - used
        assert not missing, f"defaults.{section} lacks {sorted(missing)} (catalog/schema.py has them)"


def test_gpu_pci_list_is_read_with_the_catalog_checks_first():
    data = labelled(MODULE, "data")["proxmox_hardware_pci.gpu"]
    assert data["node_name"] == "${local.node}"
    assert data["filters"]["id"] == "${local.gpu.pci_address}"
    lifecycle = one(data, "lifecycle")
    conditions = [c["condition"] for c in lifecycle["precondition"]]
    assert "${length(local.matches) == 1}" in conditions
    assert any("terraform.workspace" in c for c in conditions)
    messages = " ".join(c["error_message"] for c in lifecycle["postcondition"])
    assert "No PCI device" in messages and "IOMMU is off" in messages and "intel_iommu=on" in messages


def test_the_gpu_mapping_is_complete():
    assert MAPPING["name"] == "${local.gpu.mapping}"
    (entry,) = MAPPING["map"]
    assert entry["path"] == "${local.gpu.pci_address}" and entry["id"] == "${local.gpu.vendor_device}"
    assert entry["node"] == "${local.node}"
    # without both, Proxmox flags the mapping incomplete (FACTS.md)
    assert entry["iommu_group"] == "${local.gpu_function.iommu_group}"
    assert entry["subsystem_id"] == "${local.gpu_subsystem}"
    assert "data.proxmox_hardware_pci.gpu.devices" in CODE


def test_only_the_current_resource_names_are_used():
    assert set(RESOURCES) == {"proxmox_virtual_environment_vm.vm", "proxmox_hardware_mapping_pci.gpu"}
    assert "proxmox_virtual_environment_hardware_mapping_pci" not in CODE
    assert "proxmox_virtual_environment_download_file" not in CODE


def test_vm_machine_firmware_and_lifecycle():
    assert (VM["machine"], VM["bios"]) == ("q35", "ovmf")
    assert one(VM, "efi_disk") == {"datastore_id": "${local.vm.storage}", "type": "4m",
                                   "pre_enrolled_keys": False}
    assert VM["started"] is True and VM["stop_on_destroy"] is True
    assert one(VM, "operating_system") == {"type": "l26"}
    assert (VM["vm_id"], VM["name"], VM["node_name"]) == ("${local.vm.vmid}", "${local.vm.name}",
                                                          "${local.node}")


def test_vm_timeouts_are_bounded():
    timeouts = {k: v for k, v in VM.items() if k.startswith("timeout_")}
    assert {"timeout_create", "timeout_start_vm", "timeout_stop_vm"} <= set(timeouts)
    assert all(0 < v <= 1800 for v in timeouts.values()), timeouts
    agent = one(VM, "agent")
    assert agent["enabled"] is True
    seconds = re.fullmatch(r"(\d+)s", agent["timeout"])
    assert seconds and 0 < int(seconds.group(1)) <= 60, agent["timeout"]
    # Terraform never waits for the agent's addresses: the boot phase does, with a deadline
    assert one(agent, "wait_for_ip") == {"disabled": True}


def test_vm_size_comes_from_the_catalog():
    assert one(VM, "cpu") == {"cores": "${local.vm.cores}", "type": "${local.vm.cpu}"}
    assert one(VM, "memory")["dedicated"] == "${local.vm.memory_mb}"
    disk = one(VM, "disk")
    assert disk["size"] == "${local.vm.disk_gb}" and disk["datastore_id"] == "${local.vm.storage}"
    assert disk["interface"] == "virtio0" and disk["discard"] == "on" and disk["iothread"] is True
    assert "local.vm.image" in disk["file_id"] and "local.vm.image" in disk["import_from"]
    assert one(VM, "network_device")["bridge"] == "${local.vm.bridge}"


def test_gpu_by_mapping_and_raw_id_only_for_root_password():
    hostpci = one(VM, "hostpci")
    assert hostpci["device"] == "hostpci0" and hostpci["pcie"] is True
    assert hostpci["mapping"] == "${local.gpu_by_mapping ? local.gpu_mapping : null}"
    by_name = "${var.manage_mapping ? proxmox_hardware_mapping_pci.gpu[0].name : local.gpu.mapping}"
    assert f'"gpu_mapping": "{by_name}"' in CODE
    assert hostpci["id"] == "${local.gpu_by_mapping ? null : local.gpu.pci_address}"
    assert '"gpu_by_mapping": "${local.proxmox.auth != \\"root-password\\"}"' in CODE


def test_cloud_init_comes_from_the_snippet_only():
    init = one(VM, "initialization")
    assert init["user_data_file_id"] == "${local.storages.snippets}:snippets/${local.vm.name}-user-data.yaml"
    assert "user_account" not in init
    ipv4 = one(one(init, "ip_config"), "ipv4")
    assert ipv4 == {"address": "${local.vm.ipv4}",
                    "gateway": "${local.static_ipv4 ? local.vm.gateway : null}"}


def test_outputs():
    outputs = {name: body for b in blocks(MODULE, "output") for name, body in b.items()}
    assert set(outputs) == {"vmid", "name", "node"}
    assert outputs["vmid"]["value"] == "${proxmox_virtual_environment_vm.vm.vm_id}"


def test_no_secret_in_the_module():
    assert list(secrets(MODULE)) == []
    assert not list(TF_DIR.glob("*.tfvars")), "variables come from the catalog, not from tfvars files"


@pytest.mark.parametrize("hcl", [
    'resource "x" "y" {\n  initialization {\n    user_account {\n      keys = [var.k]\n    }\n  }\n}\n',
    'provider "proxmox" {\n  api_token = "root@pam!tf=00000000-0000-4000-8000-000000000001"\n}\n',
    'locals {\n  key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA admin@host"\n}\n',
    'locals {\n  key = file("~/.ssh/id_ed25519")\n}\n',
    'provider "proxmox" {\n  password = var.pw\n}\n',
])
def test_the_secret_check_finds_each_kind(hcl: str):
    assert list(secrets(parse_text(hcl)))
