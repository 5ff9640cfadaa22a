"""aimachine/terraform/ run by the real binary and the real bpg/proxmox provider (tools/build.sh): fmt,
validate, a plan against the simulator, and the catalog defaults evaluated by Terraform itself compared
with what aimachine/catalog/schema.py resolves for the same file. Nothing here skips in CI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from aimachine.catalog.schema import load_catalog
from tests.conftest import ROOT
from tests.harness.terraform_tools import scratch_module
from tests.integration.terraform_cli import offline_env, resolve_catalog_in_terraform, run
from tests.integration.terraform_module import TF_DIR
from tests.pve_sim.cli_env import write_catalog
from tests.pve_sim.fixture import healthy_state


def test_terraform_fmt_is_clean(tmp_path: Path):
    result = run(["fmt", "-check", "-diff", "-recursive", str(TF_DIR)], ROOT, offline_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_validate(tmp_path: Path):
    module = scratch_module(tmp_path)
    env = offline_env(tmp_path)
    init = run(["init", "-backend=false", "-input=false", "-no-color"], module, env, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Installed bpg/proxmox v0.111.1" in init.stdout, "the provider came from the local mirror"
    result = run(["validate", "-json", "-no-color"], module, env)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert not (TF_DIR / ".terraform").exists(), "tests never init in the checkout"


def test_terraform_plan_against_the_simulator(tmp_path: Path, pve_sim):
    """A plain `terraform plan` of the shipped module: the VM and (no mapping on the host) the mapping
    to add, read through the provider from the simulator; `-detailed-exitcode` says 2."""
    state = healthy_state()
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    module = scratch_module(tmp_path)
    env = {**offline_env(tmp_path), **sim.env()}
    assert run(["init", "-input=false", "-no-color"], module, env, timeout=120).returncode == 0
    catalog = write_catalog(tmp_path)
    plan = run(["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-var=catalog_path={catalog}",
                "-var=vm_name=vm-llm-aimachine"], module, env, timeout=120)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in plan.stdout
    assert 'subsystem_id = "19da:5300"' in plan.stdout and "iommu_group  = 14" in plan.stdout
    assert sim.changes() == [], "a plan writes nothing"


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


def test_an_unknown_vm_name_matches_nothing(tmp_path: Path):
    got = resolve_catalog_in_terraform(tmp_path, ROOT / "catalog.yml", "vm-not-there")
    assert got["matches"] == 0  # main.tf's precondition turns this into the error message
