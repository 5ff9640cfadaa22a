"""The rehearsal's host and catalog copy are built from the catalog, and the real deploy never
imports the simulator or the rehearsal."""

from __future__ import annotations

import subprocess
import sys

import yaml

from aimachine.catalog.schema import load_catalog, parse_catalog
from aimachine.rehearsal.catalog_copy import GuestSettings, rehearsal_catalog
from aimachine.rehearsal.host import SCENARIOS, host_state, import_image
from tests.conftest import ROOT

CAT = load_catalog(ROOT / "catalog.yml")
VM = CAT.vms[0]


def test_an_iso_image_is_rehearsed_from_import_content():
    assert import_image("local:iso/noble-server-cloudimg-amd64.img") == \
        "local:import/noble-server-cloudimg-amd64.qcow2"
    assert import_image("nas:import/noble.qcow2") == "nas:import/noble.qcow2"


def test_the_host_has_the_catalogs_node_gpu_and_storages():
    state = host_state(CAT, VM, "t@pam!x=s", "/scratch/vz", "10.0.0.2")
    node = state["nodes"][CAT.node_of(VM)]
    gpu = [d for d in node["pci"] if d["id"].startswith(VM.gpu.pci_address)]
    assert [d["id"] for d in gpu] == [f"{VM.gpu.pci_address}.0", f"{VM.gpu.pci_address}.1"]
    assert f"{gpu[0]['vendor'][2:]}:{gpu[0]['device'][2:]}" == VM.gpu.vendor_device
    assert {VM.storage, CAT.proxmox.storages.snippets} <= set(node["storage"])
    assert node["storage"][CAT.proxmox.storages.snippets]["path"] == "/scratch/vz"
    assert node["vms"] == {} and state["mappings"]["pci"] == {}


def test_every_scenario_changes_the_host():
    healthy = host_state(CAT, VM, "t@pam!x=s", "/vz", "10.0.0.2")
    for name in SCENARIOS:
        assert host_state(CAT, VM, "t@pam!x=s", "/vz", "10.0.0.2", name) != healthy, name


def test_the_catalog_copy_changes_only_what_a_rehearsal_cannot_take(tmp_path):
    dest = tmp_path / "catalog.yml"
    notes = rehearsal_catalog(ROOT / "catalog.yml", VM.name, dest, tmp_path / "k.pub",
                              GuestSettings("3.11", "10.213.1.1"))
    copy = parse_catalog(dest.read_text(), str(dest)).vm(VM.name)
    assert copy.image == "local:import/noble-server-cloudimg-amd64.qcow2"
    assert copy.login.ssh_public_key_file == str(tmp_path / "k.pub")
    assert copy.firewall.admin_network == "10.213.1.0/30"
    assert copy.services.ollama.models == [] and copy.services.vllm.python == "3.11"
    assert (copy.vmid, copy.cores, copy.memory_mb, copy.disk_gb, copy.gpu) == \
        (VM.vmid, VM.cores, VM.memory_mb, VM.disk_gb, VM.gpu)
    assert len(notes) == 3 and "iso-content image over SSH" in notes[0]
    shipped = yaml.safe_load((ROOT / "catalog.yml").read_text())
    assert yaml.safe_load(dest.read_text())["proxmox"] == shipped["proxmox"]


def test_the_real_deploy_never_imports_the_simulator_or_the_rehearsal():
    code = ("import sys, aimachine.cli.main, aimachine.deploy, aimachine.proxmox.provision, "
            "aimachine.proxmox.preflight; "
            "print([m for m in sys.modules "
            "if m.startswith(('aimachine.pvesim', 'aimachine.rehearsal', 'trustme'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
