"""terraform/ run by the real binary: fmt, validate, and the catalog defaults evaluated by Terraform
itself compared with what deploy/catalog.py resolves for the same file."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

from deploy.catalog import load_catalog
from tests.conftest import ROOT
from tests.integration.terraform_cli import offline_env, resolve_catalog_in_terraform, run, terraform_bin
from tests.integration.terraform_module import TF_DIR

needs_terraform = pytest.mark.skipif(terraform_bin() is None,
                                     reason="terraform is not on PATH (nix develop brings it)")


@needs_terraform
def test_terraform_fmt_is_clean(tmp_path: Path):
    result = run(["fmt", "-check", "-diff", "-recursive", str(TF_DIR)], ROOT, offline_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
def test_terraform_validate(tmp_path: Path):
    module = tmp_path / "module"
    shutil.copytree(TF_DIR, module, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = offline_env(tmp_path)
    init = run(["init", "-backend=false", "-input=false", "-no-color"], module, env, timeout=120)
    if init.returncode != 0:
        reason = " ".join(init.stderr.split())[:400]
        pytest.skip("bpg/proxmox is not in a local provider mirror, and tests never reach the "
                    f"registry (AIMACHINE_TF_PROVIDER_MIRROR names one): terraform init said: {reason}")
    result = run(["validate", "-json", "-no-color"], module, env)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)


def _shipped() -> dict:
    return yaml.safe_load((ROOT / "catalog.yml").read_text())


def _minimal() -> dict:
    """The shipped catalog with every optional field Terraform reads left out."""
    data = copy.deepcopy(_shipped())
    for key in ("ssh_user", "auth", "storages"):
        data["proxmox"].pop(key, None)
    for key in ("cpu", "bridge", "ipv4", "gateway", "node"):
        data["vms"][0].pop(key, None)
    return data


def _overridden() -> dict:
    """Every optional field Terraform reads set away from its default (storages only in part)."""
    data = copy.deepcopy(_shipped())
    data["proxmox"].update(ssh_user="deployer", auth="root-password", storages={"snippets": "snips"})
    data["vms"][0].update(cpu="x86-64-v3", bridge="vmbr1", ipv4="192.168.0.140/24",
                          gateway="192.168.0.1", node="pve-2",
                          image="local:import/noble-server-cloudimg-amd64.img")
    return data


@needs_terraform
@pytest.mark.parametrize("variant", [_shipped, _minimal, _overridden])
def test_terraform_resolves_the_catalog_as_python_does(tmp_path: Path, variant):
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(variant()))
    catalog = load_catalog(path)  # the variant is a valid catalog
    vm = catalog.vm("vm-llm-aimachine")
    got = resolve_catalog_in_terraform(tmp_path, path, vm.name)
    assert got["matches"] == 1
    assert got["node"] == catalog.node_of(vm)
    for field in ("cpu", "bridge", "ipv4", "gateway", "cores", "memory_mb", "disk_gb", "storage",
                  "image", "vmid", "name"):
        assert got["vm"][field] == getattr(vm, field), field
    assert {k: got["proxmox"][k] for k in ("ssh_user", "auth", "node")} == {
        "ssh_user": catalog.proxmox.ssh_user, "auth": catalog.proxmox.auth, "node": catalog.proxmox.node}
    assert got["storages"] == {"iso": catalog.proxmox.storages.iso,
                               "snippets": catalog.proxmox.storages.snippets}
    assert got["gpu_by_mapping"] == (catalog.proxmox.auth == "api-token")
    assert got["image_in_import"] == (":import/" in vm.image)


@needs_terraform
def test_an_unknown_vm_name_matches_nothing(tmp_path: Path):
    got = resolve_catalog_in_terraform(tmp_path, ROOT / "catalog.yml", "vm-not-there")
    assert got["matches"] == 0  # main.tf's precondition turns this into the error message
