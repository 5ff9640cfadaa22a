"""`aimachine deploy A B` through the real CLI against the Proxmox VE simulator with the real Terraform:
the Proxmox phases one VM at a time, a failure naming its VM and phase and stopping before the next VM."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import run_aimachine
from tests.pve_sim.cli_env import cli_env, write_catalog
from tests.pve_sim.fixture import TOKEN, healthy_state

SECRET = TOKEN.split("=", 1)[1]
NODE = "android-19"
FIRST, SECOND = "vm-llm-aimachine", "vm-second"


def _state(tmp_path: Path) -> dict:
    state = healthy_state()
    state["nodes"][NODE]["storage"]["local"]["path"] = str(tmp_path / "vz")
    return state


def _two_vm_catalog(tmp_path: Path, own_gpu: bool) -> Path:
    """The shipped VM and a smaller second one (VM 141); with OWN_GPU it passes through a second card."""
    path = write_catalog(tmp_path)
    raw = yaml.safe_load(path.read_text())
    second = yaml.safe_load(yaml.safe_dump(raw["vms"][0]))
    second.update(name=SECOND, vmid=141, cores=8, memory_mb=16384, disk_gb=100)
    if own_gpu:
        second["gpu"].update(pci_address="0000:03:00", mapping="second-card")
    raw["vms"].append(second)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _second_card(state: dict) -> None:
    state["nodes"][NODE]["pci"] += [
        {"id": "0000:03:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2d04",
         "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": 16},
        {"id": "0000:03:00.1", "class": "0x040300", "vendor": "0x10de", "device": "0x22eb",
         "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": 16}]
    state["mappings"]["pci"]["second-card"] = {"map": [
        "node=android-19,path=0000:03:00,id=10de:2d04,iommugroup=16,subsystem-id=19da:5300"]}


def _deploy(sim, tmp_path: Path, catalog: Path, *args: str):
    from aimachine.catalog.schema import load_catalog
    from aimachine.rehearsal import node_sysfs

    env = cli_env(sim, tmp_path)
    for vm in load_catalog(catalog).vms:  # each card idle and healthy in the node's sysfs
        node_sysfs.write(Path(env["AIMACHINE_NODE_SYSFS"]), vm, node_sysfs.HEALTHY)
    result = run_aimachine("deploy", *args, "--catalog", str(catalog), env=env, timeout=600)
    out = result.stdout + result.stderr
    assert SECRET not in out and "Traceback" not in out
    return result


def test_two_vms_are_provisioned_one_after_the_other_with_one_summary(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    _second_card(state)
    sim = pve_sim(state)
    catalog = _two_vm_catalog(tmp_path, own_gpu=True)
    result = _deploy(sim, tmp_path, catalog, "--all", "--until", "boot")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.index(f"{FIRST} [5/7] boot ok") < out.index(f"{SECOND} [2/7] preflight ...")
    assert sim.vms()[140]["status"] == "running" and sim.vms()[141]["status"] == "running"
    assert f"deploy {FIRST}, {SECOND}: stopped after boot, as asked" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("VM "))
    assert header.split() == ["VM", "preflight", "cloud-init", "provision", "boot", "total"]
    assert [line.split()[0] for line in out.splitlines()[out.splitlines().index(header) + 1:][:3]] == [
        FIRST, SECOND, "total"]


def test_a_failure_names_its_vm_and_phase_and_stops_before_the_next_vm(pve_sim, tmp_path: Path) -> None:
    """Both VMs want the one card: the second's preflight sees the first running with it."""
    sim = pve_sim(_state(tmp_path))
    catalog = _two_vm_catalog(tmp_path, own_gpu=False)
    result = _deploy(sim, tmp_path, catalog, FIRST, SECOND, "--until", "boot")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"{SECOND} [2/7] preflight FAILED" in result.stdout
    assert result.stderr.startswith(f"preflight: {SECOND}: "), result.stderr
    assert f"FAILED in preflight ({SECOND})" in result.stdout
    assert 141 not in sim.vms() and sim.vms()[140]["status"] == "running"
    assert f"(done through boot: {FIRST};" in result.stdout


def test_an_unknown_name_lists_the_catalogs_vms(tmp_path: Path) -> None:
    catalog = _two_vm_catalog(tmp_path, own_gpu=True)
    result = run_aimachine("deploy", FIRST, "nope", "--catalog", str(catalog))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no VM named 'nope'; the catalog has: {FIRST}, {SECOND}" in result.stderr
