"""`aimachine status` and `aimachine destroy` through the CLI (in this process) against the simulator,
with the real Terraform and provider."""

from __future__ import annotations

from pathlib import Path

from aimachine.rehearsal.host import START_TIMEOUT
from tests.conftest import invoke_aimachine
from tests.pve_sim.cli_env import cli_env, write_catalog
from tests.pve_sim.fixture import TOKEN, healthy_state

SECRET = TOKEN.split("=", 1)[1]


def _state(tmp_path: Path) -> dict:
    state = healthy_state()
    state["nodes"]["android-19"]["storage"]["local"]["path"] = str(tmp_path / "vz")
    return state


def _cli(sim, tmp_path: Path, *args: str, **env: str):
    catalog = write_catalog(tmp_path)
    result = invoke_aimachine(*args, "--catalog", str(catalog), env=cli_env(sim, tmp_path, **env))
    out = result.stdout + result.stderr
    assert SECRET not in out and "Traceback" not in out
    return result


def test_destroy_removes_the_provisioned_vm_and_nothing_else(pve_sim, tmp_path: Path) -> None:
    sim = pve_sim(_state(tmp_path))
    assert _cli(sim, tmp_path, "provision", "vm-llm-aimachine").returncode == 0
    status = _cli(sim, tmp_path, "status", "vm-llm-aimachine")
    assert status.returncode == 0, status.stderr
    assert "VM 140 on android-19 is running" in status.stdout
    assert "hostpci0 = mapping=rtx5060ti,pcie=1" in status.stdout
    assert "address:  198.51.100.140" in status.stdout

    refused = _cli(sim, tmp_path, "destroy", "vm-llm-aimachine")  # no --yes, no terminal: no
    assert refused.returncode == 1 and 140 in sim.vms()

    result = _cli(sim, tmp_path, "destroy", "vm-llm-aimachine", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VM 140 vm-llm-aimachine destroyed" in result.stdout
    assert 140 not in sim.vms() and 120 in sim.vms()
    assert "rtx5060ti" in sim.state()["mappings"]["pci"], "the shared mapping stays"
    gone = _cli(sim, tmp_path, "status", "vm-llm-aimachine")
    assert "does not exist" in gone.stdout


def test_a_start_hanging_after_destroy_stopped_the_card_names_the_reset_bug(pve_sim, tmp_path: Path) -> None:
    """Destroy stops the running VM with the card and says an RTX 50 card may not reset
    (open-gpu-kernel-modules#853); when the next start then times out (Proxmox's start task: `start failed:
    ... got timeout`), provision names the bug, that stop, and the power cycle."""
    sim = pve_sim(_state(tmp_path))
    assert _cli(sim, tmp_path, "provision", "vm-llm-aimachine").returncode == 0
    result = _cli(sim, tmp_path, "destroy", "vm-llm-aimachine", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("NOTE: VM 140 held the GPU and was stopped by terraform destroy: RTX 50 cards may not reset "
            "after a stop (NVIDIA/open-gpu-kernel-modules#853); if the next VM start hangs, power-cycle the "
            "Proxmox host") in result.stdout
    sim.edit(lambda s: s["faults"].append({
        "method": "POST", "path": "/nodes/android-19/qemu/140/status/start",
        "exitstatus": START_TIMEOUT.format(vmid=140, name="vm-llm-aimachine")}))
    hung = _cli(sim, tmp_path, "provision", "vm-llm-aimachine")
    assert hung.returncode == 4, hung.stdout + hung.stderr
    assert "VM 140 did not finish starting: an RTX 50 card that did not reset after its last VM stop hangs " \
           "the start (this tool stopped VM 140 with the card 20" in hung.stderr
    assert "remedy: power-cycle the Proxmox host" in hung.stderr and 140 not in sim.vms()


def test_destroy_refuses_a_vm_of_another_name(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["nodes"]["android-19"]["vms"][140] = {"name": "database", "status": "running", "config": {}}
    sim = pve_sim(state)
    before = len(sim.changes())
    result = _cli(sim, tmp_path, "destroy", "vm-llm-aimachine", "--yes")
    assert result.returncode == 4
    assert "named 'database', not 'vm-llm-aimachine': refusing" in result.stderr
    assert sim.changes()[before:] == [] and sim.vms()[140]["name"] == "database"


def test_destroy_of_a_missing_vm_changes_nothing(pve_sim, tmp_path: Path) -> None:
    sim = pve_sim(_state(tmp_path))
    result = _cli(sim, tmp_path, "destroy", "vm-llm-aimachine", "--yes")
    assert result.returncode == 0 and "nothing to destroy" in result.stdout
    assert sim.changes() == []
